"""`make chaos`: every chaos run in turn, each bounded in time; prints what it tried and what survived, and writes
chaos/results/latest.md plus a dated copy. `--only NAME` runs one of them; the exit status is 1 when any failed.

The runs need root for two measurements: iptables counts connection attempts at the wire (refused ones included),
and /proc/PID/clear_refs resets a process's peak memory. Without them those figures read "not measured".
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.run import machine

from . import fuzz, hostile, kill, memory, outage, restart
from .report import Finding

RESULTS = Path(__file__).resolve().parent / "results"


def fuzz_finding(work: Path) -> Finding:
    finding = Finding("Schema-driven fuzzing", "no 5xx from the stub Loop, the detector, the trainer or the "
                      "converter, and every process still up afterwards")
    report, failures, dead = fuzz.run(60.0, work / "fuzz")
    finding.lines.append(report)
    finding.check(not any(failures.values()), f"5xx or no answer: {failures} (see the table)")
    finding.check(not dead, f"gone after fuzzing: {', '.join(dead)}")
    return finding


RUNS: dict[str, Callable[[Path], Finding]] = {
    "outage": lambda work: outage.run(work, seconds=60.0),
    "kill": lambda work: kill.run(work, images=1000, kills=10, trainer_kills=8),
    "restart": lambda work: restart.run(work, down_seconds=20.0),
    "hostile": hostile.run,
    "memory": memory.run,
    "fuzz": fuzz_finding,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(RUNS), action="append", help="run only these (repeatable)")
    args = parser.parse_args()
    began = time.monotonic()
    findings = []
    for name in args.only or RUNS:
        work = Path(tempfile.mkdtemp(prefix=f"loop-chaos-{name}-"))
        print(f"== {name} ...", flush=True)
        started = time.monotonic()
        try:
            finding = RUNS[name](work)
        except Exception as e:  # a run that cannot finish is a finding too, and the others still run
            finding = Finding(name, "the run completes", ok=False, problems=[f"{type(e).__name__}: {e}"])
        finding.lines.append(f"Run time: {time.monotonic() - started:.0f} s.")
        print(finding.markdown(), flush=True)
        findings.append(finding)
        shutil.rmtree(work, ignore_errors=True)
    header = ["# Chaos results", "", f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
              f"- machine: {machine()}", "- command: `make chaos`" + (f" (only {', '.join(args.only)})"
                                                                     if args.only else ""),
              f"- duration: {time.monotonic() - began:.0f} s", "",
              "| run | verdict |", "|---|---|",
              *[f"| {f.name} | {'passed' if f.ok else 'FAILED'} |" for f in findings], ""]
    text = "\n".join(header + [f.markdown() for f in findings])
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.only:
        (RESULTS / "latest.md").write_text(text)
    (RESULTS / f"{datetime.now(UTC).strftime('%Y-%m-%d-%H%M')}.md").write_text(text)
    print(f"\nwritten to {RESULTS}")
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    raise SystemExit(main())
