"""`make mutate`: mutmut over the modules that carry the guarantees, each against its own fast tests.

For every target of `mutation/targets.toml` a small working folder `.mutants/<target>/` is laid out: the target's
package (a link to it), only the selected test files and the test kit modules they import from `tests.`, and a
`pyproject.toml` holding the repository's pytest options and the target's mutmut options. mutmut copies that
folder (not the repository) into its `mutants/` and runs one worker. A mutant counts as caught when a test failed
or timed out; a surviving one must be killed by a better test or listed, with the reason it is equivalent, in
`mutation/equivalent.md`. A full run writes `bench/results/mutation.md` with the line `mutation score: NN %`.

    python -m mutation.run                    # every target
    python -m mutation.run quotas partition   # some targets (nothing written to bench/results/)
    python -m mutation.run --report           # bench/results/mutation.md from each target's last run
    python -m mutation.run quotas --again NAME   # test one mutant of the last run again, after a new test
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "mutation" / "targets.toml"
EQUIVALENT = ROOT / "mutation" / "equivalent.md"
WORK = ROOT / ".mutants"
RESULTS = ROOT / "bench" / "results" / "mutation.md"
MIN_SCORE = 90.0
CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          37: "killed"}  # mutmut's exit codes: a failing test, pytest's internal error, a timeout, the type check
LOGGERS = {"log", "logger", "logging"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
_EQUIVALENT_LINE = re.compile(r"^- `([^`]+__mutmut_\d+)`:\s*(\S.*)$")


@dataclass
class Target:
    name: str
    package: Path
    modules: list[str]
    tests: list[str]
    mutmut: dict[str, object] = field(default_factory=dict)  # further mutmut options (timeouts)


@dataclass
class Outcome:
    target: str
    module: str
    mutants: int = 0
    caught: int = 0
    timeouts: int = 0  # of the caught: the tests ran past mutmut's limit instead of failing
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)  # not caught, not justified (survived, no tests, ...)

    @property
    def score(self) -> float:
        return 100.0 * (self.caught + self.equivalent) / self.mutants if self.mutants else 100.0


def load_targets(path: Path) -> list[Target]:
    data = tomllib.loads(path.read_text())
    return [Target(name, ROOT / spec["package"], list(spec["modules"]), list(spec["tests"]),
                   dict(spec.get("mutmut", {}))) for name, spec in data.items()]


def load_equivalent(path: Path = EQUIVALENT) -> dict[str, str]:
    """Mutant name -> the reason it cannot be told apart from the original."""
    found = {}
    for line in path.read_text().splitlines():
        match = _EQUIVALENT_LINE.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _test_files(tests: list[str]) -> list[Path]:
    files = []
    for arg in tests:
        if arg.startswith("-"):
            continue
        path = ROOT / arg.split("::", 1)[0]
        if not path.is_file():
            raise SystemExit(f"mutation/targets.toml names {arg!r}, which is not a file")
        files.append(path)
    return files


def _kit_imports(path: Path) -> list[Path]:
    """The modules of the `tests` package that `path` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name == "tests" or name.startswith("tests."):
                module = ROOT / Path(*name.split("."))
                candidate = module.with_suffix(".py") if module.with_suffix(".py").is_file() else module / "__init__.py"
                if candidate.is_file():
                    found.append(candidate)
    return found


def _with_packages(files: set[Path]) -> set[Path]:
    """`files` plus the `__init__.py` and `conftest.py` of every folder between them and the repository root."""
    out = set(files)
    for file in files:
        for folder in file.relative_to(ROOT).parents:
            for name in ("__init__.py", "conftest.py"):
                if (ROOT / folder / name).is_file() and str(folder).startswith("tests"):
                    out.add(ROOT / folder / name)
    return out


def test_files(target: Target) -> set[Path]:
    """The selected test files and, transitively, what they import from `tests.` (with the package files)."""
    todo, seen = _test_files(target.tests), set()
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        todo.extend(_kit_imports(file))
    files = _with_packages(seen)
    grown = True
    while grown:  # conftest.py and __init__.py files may import the kit too
        extra = _with_packages({m for f in files for m in _kit_imports(f)}) - files
        files |= extra
        grown = bool(extra)
    return files


def log_lines(target: Target) -> list[str]:
    """mutmut patterns for every line of every logging call in the target's modules: such a line's words are for
    people, not a guarantee, so it is not mutated (what a log line announces is asserted through the metric, the
    answer or the file beside it)."""
    patterns: set[str] = set()
    for module in target.modules:
        source = (target.package / module).read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Expr):
                continue
            call = node.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and \
                    isinstance(call.func.value, ast.Name) and call.func.value.id in LOGGERS and \
                    call.func.attr in LOG_METHODS and call.end_lineno is not None:
                patterns.update(f"^{re.escape(line)}$" for line in lines[node.lineno - 1:call.end_lineno])
    return sorted(patterns)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def pyproject(target: Target) -> str:
    pytest_options = dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"])
    pytest_options.pop("addopts", None)  # -ra and --durations are for people; the markers stay
    pytest_options["testpaths"] = ["tests"]
    package = target.package.name
    mutmut_options: dict[str, object] = {
        "source_paths": [package],
        "only_mutate": [f"{package}/{module}" for module in target.modules],
        "pytest_add_cli_args_test_selection": target.tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "do_not_mutate_patterns": log_lines(target),
        # the working folder is laid out afresh for every run, inside a repository mutmut must not consult
        "use_git_change_detection": False,
        "track_dependencies": False,
        **target.mutmut,
    }
    lines = ["[tool.pytest.ini_options]", *(f"{k} = {_toml_value(v)}" for k, v in pytest_options.items()),
             "", "[tool.mutmut]", *(f"{k} = {_toml_value(v)}" for k, v in mutmut_options.items())]
    return "\n".join(lines) + "\n"


def lay_out(target: Target) -> Path:
    work = WORK / target.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / target.package.name).symlink_to(target.package, target_is_directory=True)
    for file in test_files(target):
        dest = work / file.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, dest)
    (work / "pyproject.toml").write_text(pyproject(target))
    return work


def run_mutmut(target: Target, work: Path, names: list[str] | None = None) -> None:
    """mutmut over every mutant of the target, or only over `names` (the other results of the last run stand)."""
    log = work / "mutmut.log"
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    with open(log, "a" if names else "w") as out:
        done = subprocess.run([str(mutmut), "run", "--max-children", "1", *(names or [])], cwd=work, stdout=out,
                              stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed for {target.name} (exit {done.returncode}); {log}:\n{tail}")


def outcomes(target: Target, work: Path, equivalent: dict[str, str]) -> list[Outcome]:
    out = []
    for module in target.modules:
        meta = work / "mutants" / target.package.name / (module + ".meta")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        outcome = Outcome(target.name, f"{target.package.name}/{module}", mutants=len(codes))
        for name, code in sorted(codes.items()):
            if code in CAUGHT:
                outcome.caught += 1
                outcome.timeouts += CAUGHT[code] == "timeout"
            elif name in equivalent:
                outcome.equivalent += 1
            else:
                outcome.survivors.append(name)
        out.append(outcome)
    return out


def show(work: Path, name: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    done = subprocess.run([str(mutmut), "show", name], cwd=work, capture_output=True, text=True, check=False)
    return "\n".join(line for line in done.stdout.splitlines() if line.startswith(("-", "+")) and
                     not line.startswith(("---", "+++")))


def _percent(score: float) -> int:
    """Whole percent, rounded down: 100 % only when nothing is left."""
    return int(score + 1e-9)


def write_results(results: list[Outcome], seconds: float, missing: list[str]) -> float:
    mutants = sum(o.mutants for o in results)
    good = sum(o.caught + o.equivalent for o in results)
    score = 100.0 * good / mutants if mutants else 100.0
    modules = ", ".join(o.module for o in results)
    today = dt.date.today().isoformat()
    lines = [
        "# Mutation testing",
        "",
        f"Written by `make mutate` ([how it works](../../docs/mutation.md)) on {today}; the targets' runs took "
        f"{seconds / 60:.1f} min together (one worker, one target after the other, on a shared 2-core machine).",
        "",
        f"mutation score: {_percent(score)} % (mutmut {version('mutmut')}, {today}; {modules})",
        "",
        "| target | module | mutants | caught | of which timed out | equivalent | left | score |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {o.target} | `{o.module}` | {o.mutants} | {o.caught} | {o.timeouts} | {o.equivalent} | "
          f"{len(o.survivors)} | {_percent(o.score)} % |" for o in results),
        "",
        "Caught: a test failed or timed out. Timed out: the tests ran past mutmut's limit instead of failing (see "
        "[Timeouts](../../docs/mutation.md#timeouts)). Equivalent: survived, and listed with the reason in "
        "[mutation/equivalent.md](../../mutation/equivalent.md). Left: neither.",
    ]
    if missing:
        lines += ["", f"Not run (not counted): {', '.join(missing)}."]
    if any(o.survivors for o in results):
        lines += ["", "Left:", "", *(f"- `{name}`" for o in results for name in o.survivors)]
    RESULTS.write_text("\n".join(lines) + "\n")
    return score


def run_target(target: Target, equivalent: dict[str, str], again: list[str] | None = None) -> list[Outcome]:
    """Mutate one target; print what is left alive; save the outcome beside the run (`outcome.json`).

    With `again`, only those mutants of the target's last run are tested again, against the current test files
    (after a test was written for them); every other result of that run stands."""
    started, previous = time.monotonic(), 0.0
    if again:
        work = WORK / target.name
        if not (work / "outcome.json").is_file():
            raise SystemExit(f"{target.name} has not run yet: python -m mutation.run {target.name}")
        previous = json.loads((work / "outcome.json").read_text())["seconds"]
        for file in test_files(target):  # mutmut copies tests/ into its mutants/ on every run
            (work / file.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, work / file.relative_to(ROOT))
    else:
        work = lay_out(target)
    run_mutmut(target, work, again)
    results = outcomes(target, work, equivalent)
    seconds = previous + time.monotonic() - started
    for outcome in results:
        print(f"{outcome.target:20} {outcome.module:34} {outcome.mutants:4} mutants  {outcome.caught:4} caught "
              f"({outcome.timeouts} timed out)  {outcome.equivalent:3} equivalent  {len(outcome.survivors):3} left  "
              f"{outcome.score:5.1f} %  ({seconds:.0f} s)", flush=True)
        for name in outcome.survivors:
            print(f"    {name}\n" + "\n".join(f"        {line}" for line in show(work, name).splitlines()))
    codes = {name: code for m in target.modules for name, code in
             json.loads((work / "mutants" / target.package.name / (m + ".meta")).read_text())
             ["exit_code_by_key"].items()}
    prefixes = tuple(f"{target.package.name}.{m.removesuffix('.py')}." for m in target.modules)
    for name in (n for n in equivalent if n.startswith(prefixes)):
        if name not in codes:
            print(f"    stale in mutation/equivalent.md (no such mutant now): {name}")
        elif codes[name] in CAUGHT:
            print(f"    listed in mutation/equivalent.md but caught by a test now: {name}")
    (work / "outcome.json").write_text(json.dumps({"seconds": seconds, "outcomes": [vars(o) for o in results]}))
    return results


def saved_outcomes(targets: list[Target], equivalent: dict[str, str],
                   missing: list[str] | None = None) -> tuple[list[Outcome], float]:
    """The outcomes of the last run of every target, and the time they took together; a target that has not run
    is named in `missing` when given, and stops the report otherwise."""
    results, seconds = [], 0.0
    for target in targets:
        path = WORK / target.name / "outcome.json"
        if not path.is_file():
            if missing is None:
                raise SystemExit(f"{target.name} has not run yet: python -m mutation.run {target.name}")
            missing.append(target.name)
            continue
        data = json.loads(path.read_text())
        for saved in data["outcomes"]:
            if "timeouts" not in saved:  # written before timeouts were counted apart: count them from mutmut's record
                meta = WORK / target.name / "mutants" / (saved["module"] + ".meta")
                codes = json.loads(meta.read_text())["exit_code_by_key"].values()
                saved["timeouts"] = sum(CAUGHT.get(code) == "timeout" for code in codes)
            outcome = Outcome(**saved)
            listed = [name for name in outcome.survivors if name in equivalent]  # justified since that run
            outcome.equivalent += len(listed)
            outcome.survivors = [name for name in outcome.survivors if name not in equivalent]
            results.append(outcome)
        seconds += data["seconds"]
    return results, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="target names of mutation/targets.toml (default: all)")
    parser.add_argument("--config", type=Path, default=TARGETS)
    parser.add_argument("--report", action="store_true",
                        help="run nothing: write bench/results/mutation.md from every target's last run")
    parser.add_argument("--again", nargs="+", metavar="MUTANT", default=None,
                        help="test only these mutants of the one target's last run again (after a new test)")
    args = parser.parse_args(argv)
    targets = load_targets(args.config)
    unknown = set(args.targets) - {t.name for t in targets}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; there are {[t.name for t in targets]}")
    chosen = [t for t in targets if not args.targets or t.name in args.targets]
    equivalent = load_equivalent()
    if args.again and (args.report or len(args.targets) != 1):
        parser.error("--again needs exactly one target, and no --report")
    if not args.report:
        for target in chosen:
            run_target(target, equivalent, args.again)
    if args.report or not args.targets:
        missing: list[str] = []
        results, seconds = saved_outcomes(targets, equivalent, missing if args.report else None)
        score = write_results(results, seconds, missing)
        print(f"mutation score: {score:.1f} % over {sum(o.mutants for o in results)} mutants "
              f"({seconds:.0f} s of mutmut); written to {RESULTS.relative_to(ROOT)}")
    else:
        results, _ = saved_outcomes(chosen, equivalent)
        mutants = sum(o.mutants for o in results)
        score = 100.0 * sum(o.caught + o.equivalent for o in results) / mutants if mutants else 100.0
        print(f"mutation score of {', '.join(args.targets)}: {score:.1f} % over {mutants} mutants")
    return 0 if score >= MIN_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
