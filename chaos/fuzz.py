"""Schema-driven fuzzing: every operation in each service's own OpenAPI schema, called again and again with
hostile values where its parameters and JSON fields go (non-ASCII, control characters, huge and negative numbers,
`..` and absolute paths, wrong types, empty and oversized strings) and with garbage bodies. Any 5xx is a finding,
and so is a process that is gone afterwards. A small fuzzer of our own: it needs nothing beyond httpx, so `make
chaos` runs wherever `make test` does.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.common import PASSWORD, USER, stub_loop, table

from .stack import deploy_grid_model, node_env, nodes

PROJECT = "fuzz"
HOSTILE: list[Any] = ["", "ü", "ö" * 300, "日本語", "\x00", "\n\r\t", "../../etc/passwd", "/abs/path", "%2e%2e%2f",
                      "a" * 10_000, "' OR 1=1 --", "<script>", "null", "-1", "0", "1e309", "NaN", "1.5",
                      str(2**64), str(-(2**63) - 1), "true", " ", "\ufffd\u202e"]
HOSTILE_JSON: list[Any] = [*HOSTILE, 2**64, -(2**63) - 1, -1, 0, 1.5, float("1e308"), True, None, [], {}, [1, "a"],
                           {"a": {"b": {"c": []}}}]
PATH_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass
class Outcome:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)


def json_value(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A value shaped like `schema` half the time (with hostile leaves), anything hostile otherwise."""
    if depth > 3 or rng.random() < 0.5:
        return rng.choice(HOSTILE_JSON)
    if schema.get("type") == "object" or "properties" in schema:
        return {name: json_value(sub, rng, depth + 1) for name, sub in schema.get("properties", {}).items()
                if rng.random() < 0.8}
    if schema.get("type") == "array":
        return [json_value(schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(HOSTILE_JSON)


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node.get(part, {})
        return resolve(node, spec) if isinstance(node, dict) else {}
    return schema


def request_for(path: str, method: str, operation: dict[str, Any], spec: dict[str, Any],
                rng: random.Random) -> dict[str, Any]:
    url = PATH_PARAM.sub(lambda m: quote(str(rng.choice(HOSTILE)) or "x", safe=""), path)
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        where, name = parameter.get("in"), parameter.get("name", "")
        value = str(rng.choice(HOSTILE))
        if where == "query":
            params[name] = value
        elif where == "header":
            headers[name] = value.encode("ascii", "replace").decode()[:500].replace("\n", " ").replace("\r", " ")
    content = operation.get("requestBody", {}).get("content", {})
    request: dict[str, Any] = {"method": method.upper(), "url": url, "params": params, "headers": headers}
    if "application/json" in content and rng.random() < 0.8:
        request["json"] = json_value(resolve(content["application/json"].get("schema", {}), spec), rng)
    elif "application/x-www-form-urlencoded" in content:
        request["data"] = {"username": str(rng.choice(HOSTILE)), "password": str(rng.choice(HOSTILE))}
    elif "multipart/form-data" in content:
        request["files"] = {rng.choice(["file", "files", "x"]): ("a.jpg", rng.randbytes(rng.randint(0, 4096)))}
    elif rng.random() < 0.5:
        request["content"] = rng.randbytes(rng.randint(0, 2048))
    return request


def fuzz_service(name: str, url: str, seconds: float, rng: random.Random, login: bool) -> Outcome:
    outcome = Outcome()
    with httpx.Client(base_url=url, timeout=30) as client:
        if login:
            client.post("/api/login", data={"username": USER, "password": PASSWORD})
        spec = client.get("/openapi.json").json()
        operations = [(path, method, op) for path, item in spec.get("paths", {}).items()
                      for method, op in item.items() if method in ("get", "post", "put", "delete", "patch")]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            path, method, operation = rng.choice(operations)
            if "restart" in path or "shutdown" in path:
                continue  # the fuzzer tests answers, not whether a node obeys an order to go away
            request = request_for(path, method, operation, spec, rng)
            try:
                status = client.request(**request).status_code
            except httpx.LocalProtocolError:  # httpx itself would not send it (e.g. a header it finds malformed)
                continue
            except httpx.HTTPError as e:
                outcome.requests += 1
                outcome.transport_errors.append(f"{request['method']} {path}: {type(e).__name__}")
                continue
            outcome.requests += 1
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            if status >= 500:
                outcome.server_errors.append(f"{request['method']} {request['url']} -> {status}")
    return outcome


def run(seconds: float, work: Path, seed: int = 1) -> tuple[str, dict[str, int], list[str]]:
    """Fuzz the stub Loop and each node for `seconds` each; returns (markdown report, per service the count of 5xx
    answers and requests that got no answer, services no longer running)."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    outcomes: dict[str, Outcome] = {}
    dead: list[str] = []
    with stub_loop(work) as (stub, loop), nodes(work) as started:
        deploy_grid_model(loop, work, PROJECT, images=4)
        services = {"stub Loop": stub,
                    "detector": started.start("loop-detector", node_env(stub, work / "detector", PROJECT), "/ready"),
                    "trainer": started.start("loop-trainer", node_env(stub, work / "trainer", PROJECT), "/ready"),
                    "converter": started.start("loop-converter", node_env(stub, work / "converter", PROJECT),
                                               "/ready")}
        for name, service in services.items():
            outcomes[name] = fuzz_service(name, service.url, seconds, rng, login=name == "stub Loop")
            if service.proc is None or service.proc.poll() is not None:
                dead.append(name)
    rows = [[name, o.requests, sum(v for k, v in o.statuses.items() if k < 400),
             sum(v for k, v in o.statuses.items() if 400 <= k < 500), len(o.server_errors), len(o.transport_errors),
             "no" if name in dead else "yes"] for name, o in outcomes.items()]
    failures = {name: len(o.server_errors) + len(o.transport_errors) for name, o in outcomes.items()}
    examples = [e for o in outcomes.values() for e in o.server_errors[:3] + o.transport_errors[:3]]
    lines = [f"{seconds:.0f} s per service, seed {seed}.", "",
             table(["service", "requests", "2xx/3xx", "4xx", "5xx", "transport errors", "alive after"], rows)]
    if examples:
        lines += ["", "Examples:", "", *[f"- `{e[:200]}`" for e in examples]]
    return "\n".join(lines), failures, dead
