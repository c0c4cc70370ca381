"""What a chaos run found: a verdict, the figures, and a markdown section for chaos/results/."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import history


@dataclass
class Finding:
    """One scenario's outcome. `ok` is the verdict against the goal stated in `goal`.

    A goal about wall-clock time (a rate, how soon) is checked with `check_timing`: it is part of the verdict of
    `make chaos`, while the quick versions in `make test` judge only `untimed_problems` (on a shared machine a slow
    minute is no defect, and a fast one would hide one; the rates are tested there on a virtual clock).
    """

    name: str
    goal: str
    ok: bool = True
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timing_problems: list[str] = field(default_factory=list)

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.ok = False
            self.problems.append(problem)

    def check_timing(self, condition: bool, problem: str) -> None:
        self.check(condition, problem)
        if not condition:
            self.timing_problems.append(problem)

    @property
    def untimed_problems(self) -> list[str]:
        """The problems apart from the timing goals."""
        return [p for p in self.problems if p not in self.timing_problems]

    def markdown(self) -> str:
        verdict = "**passed**" if self.ok else "**FAILED**"
        out = [f"## {self.name}", "", f"Goal: {self.goal}", "", f"Verdict: {verdict}", "", *self.lines, ""]
        if self.problems:
            out += ["Problems:", "", *[f"- {p}" for p in self.problems], ""]
        return "\n".join(out)


def vm_peak_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MB since the last `reset_peak`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def reset_peak(pid: int) -> None:
    """Start a new peak-memory measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- the history row: one line per run in chaos/results/history.md ---

HISTORY_TITLE = "Chaos history"
HISTORY_INTRO = (
    "One row per `python -m chaos.run`, oldest first (chaos/run.py appends it); the full report of the last "
    "complete run (`make chaos`) is [latest.md](latest.md), earlier ones are in git's history of that file. Outage: "
    "the most connection attempts per second of any node while the Loop was away (goal: at most 1). kill -9: "
    "accepted images lost, and the extra receipts against the images the journals named in flight at a crash. "
    "Memory: the detector's highest peak for one request (goal: under 600 MB). Fuzzing: 5xx answers of all "
    "services together, and schemathesis's failed checks in all (5xx included) where the run counted them.")
HISTORY_COLUMNS = ("date (UTC)", "commit", "command", "verdicts", "outage: attempts/s", "kill -9",
                   "memory peak (MB)", "fuzzing: 5xx", "duration (s)", "note")


def _highest(rows: history.Table, column: str) -> str:
    values = [float(r[column]) for r in rows if re.fullmatch(r"[\d.]+", r.get(column, ""))]
    return f"{max(values):g}" if values else history.MISSING


def _value(rows: history.Table, label_column: str, label: str) -> str:
    """The `value` of the first row whose label starts with `label`, in a two-column figures table."""
    return next((r["value"] for r in rows if r.get(label_column, "").startswith(label)), history.MISSING)


def history_line(report: str, note: str = "") -> str:
    """The history row of one chaos report (as chaos/run.py writes it), read back from its tables."""
    command = history.header(report, "command")
    args = re.match(r"`python -m chaos\.run ?(.*?)`", command)
    shown = "`make chaos`" if args and not args.group(1) else f"`{args.group(1)}`" if args else history.MISSING
    verdicts = history.table_with(report, "run", "verdict")
    failed = [r["run"] for r in verdicts if r["verdict"] != "passed"]
    summary = f"{len(verdicts) - len(failed)} of {len(verdicts)} passed" + (
        f"; FAILED: {', '.join(failed)}" if failed else "")
    detector = history.table_with(report, "detector", "value")
    trainer = history.table_with(report, "trainer", "value")
    kill = history.MISSING
    if detector:
        kill = (f"{_value(detector, 'detector', 'lost')} lost, {_value(detector, 'detector', 'received twice')} "
                f"extra of {_value(detector, 'detector', 'in flight')} in flight")
    if trainer:
        kill += f"; trainer: {_value(trainer, 'trainer', 'models created')} model(s)"
    fuzz = history.table_with(report, "service", "5xx")
    fuzz_5xx = str(sum(int(r["5xx"]) for r in fuzz)) if fuzz else history.MISSING
    if fuzz and all("failed checks" in r for r in fuzz):
        fuzz_5xx += f" ({sum(int(r['failed checks']) for r in fuzz)} failed checks)"
    return history.row([history.run_date(report), history.commit(report), shown, summary,
                        _highest(history.table_with(report, "outage", "attempts per second"), "attempts per second"),
                        kill, _highest(history.table_with(report, "request", "peak RSS (MB)"), "peak RSS (MB)"),
                        fuzz_5xx, history.duration(report), note])


def append_history_row(path: Path, report: str) -> None:
    """Add the row of this chaos report to chaos/results/history.md (`path`)."""
    history.append_history(path, history_line(report), HISTORY_TITLE, HISTORY_INTRO, HISTORY_COLUMNS)
