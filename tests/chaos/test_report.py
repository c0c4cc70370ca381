"""chaos/report.py: the row a chaos run adds to chaos/results/history.md."""

from __future__ import annotations

from pathlib import Path

from bench.history import MISSING
from chaos.report import HISTORY_COLUMNS, Finding, append_history_row, history_line

ROOT = Path(__file__).resolve().parents[2]

REPORT = """# Chaos results

- date: 2026-12-03 08:52 UTC
- machine: 2 cores (AMD EPYC), 24 GiB, Linux 6.18, Python 3.11.7, commit 5c68779
- command: `python -m chaos.run --only outage --only kill --seconds 30`
- duration: 439 s

| run | verdict |
|---|---|
| Loop outage: refused, then reset | passed |
| kill -9 | FAILED |

| outage | node | connection attempts | attempts per second |
|---|---|---|---|
| refuse | detector | 19 | 0.63 |
| reset | converter | 10 | 0.33 |

| detector | value |
|---|---|
| images accepted (200) | 416 |
| lost | 2 |
| received twice or more (extra receipts) | 63 |
| in flight at a crash (journal) | 63 |

| trainer | value |
|---|---|
| models created | 1 |
"""


def test_a_report_gives_verdicts_and_figures_in_one_row() -> None:
    assert history_line(REPORT) == (
        "| 2026-12-03 08:52 | 5c68779 | `--only outage --only kill --seconds 30` | 1 of 2 passed; FAILED: kill -9 "
        "| 0.63 | 2 lost, 63 extra of 63 in flight; trainer: 1 model(s) | — | — | 439 | — |")


def test_a_complete_run_is_named_make_chaos() -> None:
    report = REPORT.replace("`python -m chaos.run --only outage --only kill --seconds 30`",
                            "`python -m chaos.run` (`make chaos`)")
    assert history_line(report).split(" | ")[2] == "`make chaos`"


def test_the_row_is_appended_to_the_history(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    append_history_row(path, REPORT)
    append_history_row(path, REPORT)
    lines = path.read_text().splitlines()
    assert lines[0] == "# Chaos history"
    assert lines[-2:] == [history_line(REPORT)] * 2


def test_the_row_reads_what_run_py_writes() -> None:
    """The summary table and a finding's markdown as chaos/run.py puts them together."""
    finding = Finding("Schema-driven fuzzing", "no 5xx", lines=[
        "| service | requests | 5xx | alive after |", "|---|---|---|---|",
        "| stub Loop | 10 | 1 | yes |", "| detector | 10 | 2 | yes |"])
    finding.check(False, "5xx")
    report = "\n".join(["# Chaos results", "", "| run | verdict |", "|---|---|", "| Schema-driven fuzzing | FAILED |",
                        "", finding.markdown()])
    cells = history_line(report).strip("| ").split(" | ")
    assert cells[HISTORY_COLUMNS.index("verdicts")] == "0 of 1 passed; FAILED: Schema-driven fuzzing"
    assert cells[HISTORY_COLUMNS.index("fuzzing: 5xx")] == "3"


def test_the_latest_report_gives_every_headline_figure() -> None:
    line = history_line((ROOT / "chaos" / "results" / "latest.md").read_text())
    assert line.count(MISSING) == 1, line  # only the note is empty
