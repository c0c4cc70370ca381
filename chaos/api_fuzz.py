"""Schema-driven fuzzing with schemathesis: the stub Loop and every node, each a real process, fuzzed from its own
`/openapi.json`. Schemathesis generates valid and invalid requests for every operation (boundary values, wrong
types, hostile strings, missing and extra fields), follows the links it infers between operations (stateful), and
checks every answer: no 5xx, only documented status codes, content types and headers, bodies that match their
response schema, invalid data refused and valid data accepted. Any failed check is a finding, and so is a process
that is gone afterwards.

What it runs with (checks, operations left out and why) is chaos/schemathesis.toml; its findings are printed with
a curl command that reproduces each.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import PASSWORD, USER, stub_loop, table
from loop_testkit.processes import BIN

from .stack import deploy_grid_model, node_env, nodes

PROJECT = "fuzz"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
SERVER_ERROR = "ST101"  # schemathesis's code for a 5xx answer


@dataclass
class Budget:
    """How much to fuzz each service: `examples` test cases per operation and phase, or `seconds` for all phases of
    a service together (fuzzing and stateful testing repeat until the time is spent)."""

    examples: int | None = None
    seconds: float | None = None

    def arguments(self) -> list[str]:
        if self.seconds is not None:
            return ["--max-time", f"{max(1, round(self.seconds))}", "--max-examples", "100000"]
        return ["--max-examples", str(self.examples or 10)]

    def describe(self) -> str:
        return f"{self.seconds:.0f} s" if self.seconds is not None else f"{self.examples} examples per operation"


@dataclass
class Outcome:
    """One service's schemathesis run, read from its JSON report."""

    service: str
    test_cases: int = 0
    operations: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # code, title, count, operations
    errors: list[str] = field(default_factory=list)  # what kept schemathesis from testing (network errors, ...)
    complete: bool = False
    alive: bool = True
    output: str = ""  # schemathesis's console output: each finding with a curl command that reproduces it

    @property
    def server_errors(self) -> int:
        return sum(int(f["count"]) for f in self.failures if f["code"] == SERVER_ERROR)

    @property
    def findings(self) -> int:
        """Failed checks (5xx included), errors that stopped a test, an incomplete run and a dead process."""
        return (sum(int(f["count"]) for f in self.failures) + len(self.errors) + (not self.complete)
                + (not self.alive))


def fuzz_service(name: str, url: str, work: Path, budget: Budget, seed: int,
                 headers: dict[str, str] | None = None) -> Outcome:
    """Run schemathesis against the service at `url` (its schema at `/openapi.json`)."""
    report = work / f"schemathesis-{name.replace(' ', '-')}.json"
    command = [str(BIN / "st"), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--seed", str(seed),
               "--generation-deterministic", "--workers", "1", "--no-color",
               "--report", "json", "--report-json-path", str(report), *budget.arguments()]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=work, check=False,
                          timeout=(budget.seconds or 300) * 3 + 120)
    outcome = Outcome(name, output=done.stdout + done.stderr)
    if not report.exists():
        outcome.errors.append(f"schemathesis wrote no report (exit status {done.returncode})")
        return outcome
    data = json.loads(report.read_text())
    outcome.test_cases = int(data["test_cases"]["generated"])
    outcome.operations = int(data["operations"]["tested"])
    outcome.failures = list(data["failures"])
    outcome.errors = [json.dumps(e)[:300] for e in data["errors"]]
    outcome.complete = bool(data["complete"])
    return outcome


def login_cookie(url: str) -> dict[str, str]:
    """The header that carries a fresh stub Loop session (its protected routes answer 401 without one)."""
    answer = httpx.post(f"{url}/api/login", data={"username": USER, "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in answer.cookies.items())}


def run(budget: Budget, work: Path, seed: int = 1) -> tuple[str, list[Outcome]]:
    """Fuzz the stub Loop and each node in turn; returns a markdown report and each service's outcome."""
    work.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    with stub_loop(work) as (stub, loop), nodes(work) as started:
        deploy_grid_model(loop, work, PROJECT, images=4)
        services = {"stub Loop": stub,
                    "detector": started.start("loop-detector", node_env(stub, work / "detector", PROJECT), "/ready"),
                    "trainer": started.start("loop-trainer", node_env(stub, work / "trainer", PROJECT), "/ready"),
                    "converter": started.start("loop-converter", node_env(stub, work / "converter", PROJECT),
                                               "/ready"),
                    "annotator": started.start("loop-annotator", node_env(stub, work / "annotator", PROJECT),
                                               "/ready")}
        for name, service in services.items():
            headers = login_cookie(service.url) if name == "stub Loop" else None
            outcome = fuzz_service(name, service.url, work, budget, seed, headers)
            outcome.alive = service.proc is not None and service.proc.poll() is None
            outcomes.append(outcome)
    return report(budget, seed, outcomes), outcomes


def report(budget: Budget, seed: int, outcomes: list[Outcome]) -> str:
    rows = [[o.service, o.operations, o.test_cases, o.server_errors, sum(int(f["count"]) for f in o.failures),
             len(o.errors), "yes" if o.alive else "no"] for o in outcomes]
    lines = [f"schemathesis, {budget.describe()} per service, seed {seed}, checks and exclusions in "
             "chaos/schemathesis.toml.", "",
             table(["service", "operations", "test cases", "5xx", "failed checks", "errors", "alive after"], rows)]
    found = [f"- {o.service}: {f['code']} {f['title']} ({f['count']}): {', '.join(f['operations'][:4])}"
             for o in outcomes for f in o.failures] + [f"- {o.service}: error {e}" for o in outcomes for e in o.errors]
    if found:
        lines += ["", "Findings (reproduce with the curl commands schemathesis prints):", "", *found]
    return "\n".join(lines)
