"""bench/history.py: the row a benchmark run adds to bench/results/history.md, and the append itself."""

from __future__ import annotations

from pathlib import Path

from bench.history import (
    BENCH_COLUMNS,
    MISSING,
    append_bench_row,
    append_history,
    appended,
    bench_line,
    row,
    tables,
)

ROOT = Path(__file__).resolve().parents[2]

REPORT = """# Benchmark results

- date: 2026-12-05 14:14 UTC
- machine: 2 cores (Intel(R) Xeon(R) Processor), 24 GiB, Linux, Python 3.11, commit d8f840f with uncommitted changes
- command: `make bench`
- duration: 531 s

## Trainer

| training | train / test images | epochs | seconds | test mAP@0.5 | test mAP@0.5:0.95 | precision |
|---|---|---|---|---|---|---|
| round 1: from scratch | 240 / 120 | 56 | 271 | **0.887** | **0.696** | 0.881 |
| round 2: round 1's weights | 240 / 120 | 20 | 111 | **0.902** | **0.713** | 0.848 |

## Detector

| model | path | concurrency | req/s | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|---|
| small (reference trainer) | in-process (decode+pre+run+post) | 1 | 202.0 | 4.92 | 5.44 | 6.19 |
| small (reference trainer) | REST | 1 | 168.9 | 5.63 | 8.49 | 9.90 |
| small (reference trainer) | REST | 4 | 320.3 | 11.75 | 19.34 | 24.13 |
| realistic (YOLOv8n-sized) | REST | 1 | 15.7 | 63.34 | 67.21 | 68.63 |
| realistic (YOLOv8n-sized) | REST | 4 | 30.2 | 132.16 | 169.94 | 195.47 |

## Converter

| model | format | size (MB) | run p50 (ms) | speed-up |
|---|---|---|---|---|
| realistic | onnx (source) | 11.80 | 57.27 | 1.00 |
| realistic | onnx_int8: int8_static (converted in 2.7 s) | 3.13 | 39.70 | 1.44 |

## Outbox

Backlog of 1000 images: delivered to the stub Loop at **271 images/s**.
"""


def test_a_report_gives_its_headline_figures_in_one_row() -> None:
    assert bench_line(REPORT, "a note") == (
        "| 2026-12-05 14:14 | d8f840f + uncommitted changes | 2 cores, Intel Xeon | 0.887 / 0.696 (271 s) "
        "| 0.902 / 0.713 (111 s) | 5.63, 320.3 | 30.2 | 1.44x | 271 | 531 | a note |")


def test_figures_a_report_lacks_read_missing_instead_of_failing() -> None:
    cells = bench_line("# Benchmark results\n\n- date: 2026-11-24 06:10 UTC\n").strip("| ").split(" | ")
    assert cells[0] == "2026-11-24 06:10"
    assert cells[1:] == [MISSING] * (len(BENCH_COLUMNS) - 1)


def test_tables_are_keyed_by_their_header_and_lose_the_emphasis() -> None:
    trainer = tables(REPORT)[0]
    assert trainer[1]["test mAP@0.5"] == "0.902"
    assert trainer[0]["training"] == "round 1: from scratch"


def test_a_pipe_inside_a_value_does_not_split_the_row() -> None:
    assert row(["a|b", ""]) == f"| a\\|b | {MISSING} |"


def test_a_new_history_starts_with_its_title_intro_and_column_header() -> None:
    text = appended("", "| 1 | 2 |", "Title", "Intro.", ["one", "two"])
    assert text == "# Title\n\nIntro.\n\n| one | two |\n|---|---|\n| 1 | 2 |\n"


def test_rows_are_appended_and_nothing_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "results" / "history.md"
    append_history(path, "| 1 | 2 |", "Title", "Intro.", ["one", "two"])
    append_history(path, "| 3 | 4 |", "Other title", "Other intro.", ["x", "y"])
    assert path.read_text() == "# Title\n\nIntro.\n\n| one | two |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
    path.write_text(path.read_text().rstrip("\n"))  # a hand-edited file without its last newline
    append_history(path, "| 5 | 6 |", "Title", "Intro.", ["one", "two"])
    assert path.read_text().endswith("| 3 | 4 |\n| 5 | 6 |\n")


def test_the_checked_in_history_has_one_row_per_run_under_its_header(tmp_path: Path) -> None:
    history = (ROOT / "bench" / "results" / "history.md").read_text().splitlines()
    header = history.index(row(BENCH_COLUMNS))
    assert all(line.count(" | ") == len(BENCH_COLUMNS) - 1 for line in history[header + 2:])
    path = tmp_path / "history.md"
    path.write_text("\n".join(history) + "\n")
    append_bench_row(path, REPORT)
    assert path.read_text().splitlines()[:-1] == history


def test_the_latest_report_gives_every_headline_figure() -> None:
    """If a table header of the benchmark changes, the history must learn it: no figure of latest.md is lost."""
    line = bench_line((ROOT / "bench" / "results" / "latest.md").read_text())
    assert line.count(MISSING) == 1, line  # only the note is empty
