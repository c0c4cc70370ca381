"""The results history: `latest.md` holds the last run's full report, `history.md` one table row per run.

A run's headline figures are read back from its own report (the tables and header lines it prints), so the row
says exactly what the report says, and the reports of older runs, kept in git, convert the same way. A figure the
report does not have reads "—".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

MISSING = "—"

Table = list[dict[str, str]]


def tables(report: str) -> list[Table]:
    """Every markdown table of `report`, as rows keyed by the table's header cells."""
    found: list[Table] = []
    lines = report.splitlines()
    i = 0
    while i + 1 < len(lines):
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            header = _cells(lines[i])
            rows: Table = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, _cells(lines[i]), strict=False)))
                i += 1
            found.append(rows)
        else:
            i += 1
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("*").strip() for cell in line.strip().strip("|").split("|")]


def table_with(report: str, *columns: str) -> Table:
    """The first table having all of `columns`; empty when there is none."""
    return next((t for t in tables(report) if t and all(c in t[0] for c in columns)), [])


def header(report: str, key: str) -> str:
    """The value of a `- key: value` line of the report's header; "" when it has none."""
    match = re.search(rf"^- {re.escape(key)}: (.*)$", report, re.MULTILINE)
    return match.group(1).strip() if match else ""


def first(rows: Table, column: str, **where: Callable[[str], bool]) -> str:
    """`column` of the first row whose cells satisfy every test in `where`; MISSING when none does."""
    for row in rows:
        if all(test(row.get(name, "")) for name, test in where.items()):
            return row.get(column) or MISSING
    return MISSING


def run_date(report: str) -> str:
    return header(report, "date").removesuffix("UTC").strip() or MISSING


def commit(report: str) -> str:
    """The commit the run measured, marked when the tree had changes not yet committed."""
    match = re.search(r"commit (\S+)(.*)$", header(report, "machine"))
    if not match:
        return MISSING
    return match.group(1) + (" + uncommitted changes" if match.group(2).strip() else "")


def machine(report: str) -> str:
    """Cores and CPU model, e.g. `2 cores, Intel Xeon` (timings compare only on the same machine)."""
    match = re.match(r"(\d+) cores \((.+)\), \d+ GiB", header(report, "machine"))
    if not match:
        return MISSING
    cpu = re.sub(r"\s+", " ", match.group(2).replace("(R)", "").replace("(TM)", "").replace("Processor", ""))
    return f"{match.group(1)} cores, {cpu.strip()}"


def duration(report: str) -> str:
    return header(report, "duration").removesuffix("s").strip() or MISSING


def row(values: Sequence[str]) -> str:
    """One markdown table row; a `|` inside a value is escaped."""
    return "| " + " | ".join((v or MISSING).replace("|", "\\|") for v in values) + " |"


def new_history(title: str, intro: str, columns: Sequence[str]) -> str:
    return "\n".join([f"# {title}", "", intro, "", row(columns), "|" + "---|" * len(columns), ""])


def appended(history: str, line: str, title: str, intro: str, columns: Sequence[str]) -> str:
    """`history` with `line` as its new last row; an empty history starts with the title and column header."""
    text = history if history.strip() else new_history(title, intro, columns)
    return text + ("" if text.endswith("\n") else "\n") + line + "\n"


def append_history(path: Path, line: str, title: str, intro: str, columns: Sequence[str]) -> None:
    """Add `line` to the history file at `path` (created with its header on first use); earlier rows stay."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(appended(path.read_text() if path.exists() else "", line, title, intro, columns))


# --- the benchmark's headline figures ---

BENCH_TITLE = "Benchmark history"
BENCH_INTRO = (
    "One row per `make bench` run, oldest first (bench/run.py appends it); the full report of the last run is "
    "[latest.md](latest.md), earlier ones are in git's history of that file. Timings compare only between runs on "
    "the same machine. Trainer: test mAP@0.5 / mAP@0.5:0.95 and the seconds of the whole training process. "
    "Detector: REST through the server, p50 at concurrency 1 and throughput at concurrency 4. INT8: `session.run` "
    "speed-up of the realistic model's static INT8 conversion.")
BENCH_COLUMNS = ("date (UTC)", "commit", "machine", "trainer round 1", "trainer round 2",
                 "detector small: p50 ms (c1), req/s (c4)", "detector realistic: req/s (c4)", "INT8 speed-up",
                 "outbox delivery (images/s)", "duration (s)", "note")


def _training(rows: Table, index: int) -> str:
    if len(rows) <= index:
        return MISSING
    r = rows[index]
    figures = " / ".join(v for v in (r.get("test mAP@0.5"), r.get("test mAP@0.5:0.95")) if v)
    return f"{figures} ({r.get('seconds', MISSING)} s)"


def bench_line(report: str, note: str = "") -> str:
    """The history row of one benchmark report (bench/results/latest.md as bench/run.py writes it)."""
    training = table_with(report, "training", "test mAP@0.5", "seconds")
    detector = table_with(report, "model", "path", "concurrency", "req/s", "p50 ms")
    converter = table_with(report, "model", "format", "speed-up")

    def rest(model: str, concurrency: str, column: str) -> str:
        return first(detector, column, model=lambda m: m.startswith(model), path=lambda p: p == "REST",
                     concurrency=lambda c: c == concurrency)

    small = ", ".join((rest("small", "1", "p50 ms"), rest("small", "4", "req/s")))
    small = MISSING if small == f"{MISSING}, {MISSING}" else small
    int8 = first(converter, "speed-up", model=lambda m: m == "realistic", format=lambda f: f.startswith("onnx_int8"))
    outbox = re.search(r"delivered to the stub Loop at \**(\d+) images/s", report)
    return row([run_date(report), commit(report), machine(report), _training(training, 0), _training(training, 1),
                small, rest("realistic", "4", "req/s"), int8 if int8 == MISSING else f"{int8}x",
                outbox.group(1) if outbox else MISSING, duration(report), note])


def append_bench_row(path: Path, report: str) -> None:
    """Add the row of this benchmark report to bench/results/history.md (`path`)."""
    append_history(path, bench_line(report), BENCH_TITLE, BENCH_INTRO, BENCH_COLUMNS)
