"""Quick versions of the `make chaos` runs (chaos/run.py; the full runs take minutes each): every node back in
contact on its own after a Loop restart (connections refused) and a resetting forwarder; a short outage (refused,
then reset); and a few kill -9 of a detector while it accepts and while it delivers, counted at the stub's wire.
The short fuzzing run is tests/e2e/test_fuzz_quick.py."""

from __future__ import annotations

from pathlib import Path

from chaos import kill, outage, restart
from chaos.report import Finding


def test_every_node_reconnects_after_a_loop_restart_and_after_connection_resets(tmp_path: Path) -> None:
    """How soon each node is back is a figure here (printed; `make chaos` judges it): the test waits for each
    node's contact, generously bounded, and asserts that it came."""
    finding = restart.run(tmp_path, down_seconds=3.0)
    print("\n".join(finding.lines))
    assert finding.untimed_problems == [], "\n".join(finding.problems + finding.lines)
    for how in ("restart (kill -9, refused)", "connections reset"):
        back = finding.figures[how]
        assert set(back) == {"trainer (Socket.IO)", "detector (status report)", "converter (scan)"}
        assert None not in back.values(), back


def test_a_short_outage_loses_nothing_and_delivery_resumes(tmp_path: Path) -> None:
    """The connection attempts per second are a figure here (printed; `make chaos` judges them); the backoffs that
    keep them down are counted on a virtual clock in tests/detector/test_outbox.py, tests/shared/test_loop_client.py
    and tests/shared/test_loop_socket.py."""
    # long enough for the detector's backoff to reach its cap (4 s) while images keep arriving
    finding = outage.run(tmp_path, seconds=20.0, backoff_cap=4.0)
    print("\n".join(finding.lines))
    assert finding.untimed_problems == [], "\n".join(finding.problems + finding.lines)
    assert finding.figures["accepted"] == finding.figures["arrived"] > 0
    assert all(finding.figures[mode]["resumed_after_s"] is not None for mode in ("refuse", "reset"))


def test_a_few_kill_9_of_a_detector_lose_nothing_and_repeat_at_most_what_was_in_flight(tmp_path: Path) -> None:
    finding = Finding("kill -9", "quick")
    kill.detector_run(tmp_path, images=300, kills=3, finding=finding)
    assert finding.ok, "\n".join(finding.problems + finding.lines)
    figures = finding.figures["detector"]
    # an image can be stored in the outbox and then the detector killed before its 200 went out: more may arrive
    assert figures["arrived"] >= figures["accepted"] >= 300 and figures["kills_while_uploading"] >= 1
