"""`make chaos`: every chaos run in turn, each bounded in time; prints what it tried and what survived.

The runs: outage (the Loop refuses, then resets connections, while images arrive), kill (kill -9 of the detector
while it accepts and delivers, and of the trainer during a training), restart (the Loop killed and restarted, then
behind a resetting forwarder), hostile (malicious model archives and deployment targets), memory (huge and
garbage input to the detector), fuzz (schemathesis against the stub Loop's and every node's OpenAPI). The exit
status is 1 when any failed.

Results: a complete run replaces chaos/results/latest.md with its full report; every run, `--only` ones too,
appends one row to chaos/results/history.md (date, commit, verdicts, headline figures). The defaults are the full
runs (about 25 minutes); the options make them shorter, and the results say which settings were used.

The runs need root for two measurements: iptables counts connection attempts at the wire (refused ones included),
and /proc/PID/clear_refs resets a process's peak memory. Without them those figures read "not measured".
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.run import machine

from . import api_fuzz, hostile, kill, memory, outage, restart
from .report import Finding, append_history_row

RESULTS = Path(__file__).resolve().parent / "results"


def fuzz_finding(work: Path, seconds: float) -> Finding:
    finding = Finding("Schema-driven fuzzing", "schemathesis finds nothing in the stub Loop, the detector, the "
                      "trainer or the converter (no 5xx, no answer outside its documented schema), and every "
                      "process is still up afterwards")
    report, outcomes = api_fuzz.run(api_fuzz.Budget(seconds=seconds), work / "fuzz")
    finding.lines.append(report)
    for outcome in outcomes:
        finding.check(not outcome.findings, f"{outcome.service}: {outcome.findings} finding(s) (see the list)")
    finding.check(all(o.alive for o in outcomes),
                  f"gone after fuzzing: {', '.join(o.service for o in outcomes if not o.alive)}")
    return finding


def runs(args: argparse.Namespace) -> dict[str, Callable[[Path], Finding]]:
    return {
        "outage": lambda work: outage.run(work, seconds=args.seconds),
        "kill": lambda work: kill.run(work, images=args.images, kills=args.kills, trainer_kills=args.trainer_kills),
        "restart": lambda work: restart.run(work, down_seconds=args.down_seconds),
        "hostile": hostile.run,
        "memory": lambda work: memory.run(work, quick=args.small_images),
        "fuzz": lambda work: fuzz_finding(work, args.seconds),
    }


def settings(args: argparse.Namespace) -> str:
    return (f"outages of {args.seconds:.0f} s per mode, fuzzing {args.seconds:.0f} s per service, the Loop down "
            f"{args.down_seconds:.0f} s per restart, {args.images} images and {args.kills} kills of the detector, "
            f"{args.trainer_kills} kills of the trainer, "
            f"{'3000x3000' if args.small_images else '6000x6000'} JPEGs for the memory run")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["outage", "kill", "restart", "hostile", "memory", "fuzz"],
                        action="append", help="run only these (repeatable)")
    for flag, kind, default, meaning in (
            ("--seconds", float, 60.0, "each outage, and the fuzzing of each service"),
            ("--down-seconds", float, 20.0, "how long the Loop is away per restart"),
            ("--images", int, 1000, "images the detector accepts while being killed"),
            ("--kills", int, 10, "kill -9 of the detector while it delivers"),
            ("--trainer-kills", int, 8, "kill -9 of the trainer during a training")):
        parser.add_argument(flag, type=kind, default=default, help=f"{meaning} (default: %(default)s)")
    parser.add_argument("--small-images", action="store_true", help="9 instead of 36 megapixels in the memory run")
    args = parser.parse_args()
    available = runs(args)
    began = time.monotonic()
    findings = []
    for name in args.only or available:
        work = Path(tempfile.mkdtemp(prefix=f"loop-chaos-{name}-"))
        print(f"== {name} ...", flush=True)
        started = time.monotonic()
        try:
            finding = available[name](work)
        except Exception as e:  # a run that cannot finish is a finding too, and the others still run
            finding = Finding(name, "the run completes", ok=False, problems=[f"{type(e).__name__}: {e}"])
        finding.lines.append(f"Run time: {time.monotonic() - started:.0f} s.")
        print(finding.markdown(), flush=True)
        findings.append(finding)
        shutil.rmtree(work, ignore_errors=True)
    header = ["# Chaos results", "", f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
              f"- machine: {machine()}", f"- command: `{' '.join(['python -m chaos.run', *sys.argv[1:]])}`"
              + ("" if len(sys.argv) > 1 else " (`make chaos`)"),
              f"- settings: {settings(args)}", f"- duration: {time.monotonic() - began:.0f} s", "",
              "| run | verdict |", "|---|---|",
              *[f"| {f.name} | {'passed' if f.ok else 'FAILED'} |" for f in findings], ""]
    text = "\n".join(header + [f.markdown() for f in findings])
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.only:
        (RESULTS / "latest.md").write_text(text)
    append_history_row(RESULTS / "history.md", text)
    print(f"\n{'' if args.only else 'latest.md and '}a history.md row written to {RESULTS}")
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    raise SystemExit(main())
