"""`make chaos`: every chaos run in turn, each bounded in time; prints what it tried and what survived, and writes
chaos/results/latest.md plus a dated copy. `--only NAME` runs one of them; the exit status is 1 when any failed.
The defaults are the full runs (about 25 minutes); `--seconds`, `--down-seconds`, `--images`, `--kills`,
`--trainer-kills` and `--small-images` make them shorter, and the results say which settings were used.

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

from . import fuzz, hostile, kill, memory, outage, restart
from .report import Finding

RESULTS = Path(__file__).resolve().parent / "results"


def fuzz_finding(work: Path, seconds: float) -> Finding:
    finding = Finding("Schema-driven fuzzing", "no 5xx from the stub Loop, the detector, the trainer or the "
                      "converter, and every process still up afterwards")
    report, failures, dead = fuzz.run(seconds, work / "fuzz")
    finding.lines.append(report)
    finding.check(not any(failures.values()), f"5xx or no answer: {failures} (see the table)")
    finding.check(not dead, f"gone after fuzzing: {', '.join(dead)}")
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["outage", "kill", "restart", "hostile", "memory", "fuzz"],
                        action="append", help="run only these (repeatable)")
    parser.add_argument("--seconds", type=float, default=60.0, help="each outage, and the fuzzing of each service")
    parser.add_argument("--down-seconds", type=float, default=20.0, help="how long the Loop is away per restart")
    parser.add_argument("--images", type=int, default=1000, help="images the detector accepts while being killed")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 of the detector while it delivers")
    parser.add_argument("--trainer-kills", type=int, default=8, help="kill -9 of the trainer during a training")
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
    (RESULTS / f"{datetime.now(UTC).strftime('%Y-%m-%d-%H%M')}.md").write_text(text)
    print(f"\nwritten to {RESULTS}")
    return 0 if all(f.ok for f in findings) else 1


if __name__ == "__main__":
    raise SystemExit(main())
