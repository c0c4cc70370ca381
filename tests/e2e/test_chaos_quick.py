"""Quick versions of `make chaos` runs that need no more than the stub Loop offers today: every node back in
contact on its own after a Loop restart (connections refused) and a resetting forwarder, and a short fuzzing run
against the stub Loop and every node. The full runs (chaos/run.py) take minutes each."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos import fuzz, restart


def test_every_node_reconnects_after_a_loop_restart_and_after_connection_resets(tmp_path: Path) -> None:
    finding = restart.run(tmp_path, down_seconds=3.0)
    assert finding.ok, "\n".join(finding.problems + finding.lines)
    for how in ("restart (kill -9, refused)", "connections reset"):
        assert set(finding.figures[how]) == {"trainer (Socket.IO)", "detector (status report)", "converter (scan)"}


def test_a_short_fuzzing_run_gets_no_5xx_and_leaves_every_process_up(tmp_path: Path) -> None:
    report, failures, dead = fuzz.run(4.0, tmp_path)
    assert dead == [], report
    assert set(failures) == {"stub Loop", "detector", "trainer", "converter"}
    assert {name: n for name, n in failures.items() if name != "stub Loop"} == dict.fromkeys(
        ("detector", "trainer", "converter"), 0), report
    if failures["stub Loop"]:
        pytest.xfail(f"issue 11 point 6, open: the stub Loop still answers 500 under fuzzing\n{report}")
