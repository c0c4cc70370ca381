"""The history of finished trainings: bounded, counted once, kept across restarts, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

from loop_shared.schemas import Category, TrainerState
from loop_trainer.history import TrainingHistory, outcome_of
from loop_trainer.record import TrainingRecord


def record(number: int, **fields: object) -> TrainingRecord:
    return TrainingRecord(id=f"t{number}", organization="org", project="p", training_number=number,
                          categories=[Category(id="c1", name="red circle", type="box", color="#d72828")],
                          hyperparameters={"epochs": 2}, start_time=1000.0, state=TrainerState.READY_FOR_CLEANUP,
                          history=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0, "val_map50": 0.5}],
                          best_metrics={"epoch": 2, "confusion_matrix": {"c1": {"tp": 1, "fp": 0, "fn": 0}}},
                          **fields)  # type: ignore[arg-type]


def test_finished_trainings_are_summarised_bounded_and_counted(tmp_path: Path) -> None:
    history = TrainingHistory(tmp_path / "history.json", keep=3)
    for number in range(1, 6):
        failed = "no usable training images" if number == 2 else None
        history.add(record(number, failed=failed, crashes=1, image_count=10), outcome_of(record(number, failed=failed),
                                                                                         aborted=number == 3),
                    finished=1000.0 + 60 * number)
    assert [t["training_number"] for t in history.trainings] == [3, 4, 5]
    last = history.last
    assert last is not None and last["result"] == "done" and last["seconds"] == 300.0
    assert last["history"][-1] == {"epoch": 2, "loss": 1.0, "val_map50": 0.5}
    assert last["categories"] == [{"id": "c1", "name": "red circle", "type": "box", "color": "#d72828"}]
    assert history.totals["done"] == 3 and history.totals["failed"] == 1 and history.totals["aborted"] == 1
    assert history.totals["crashes"] == 5 and history.totals["images"] == 50
    assert history.totals["seconds"] == sum(60 * n for n in range(1, 6))

    again = TrainingHistory(tmp_path / "history.json", keep=3)  # a restart reads the same
    assert again.trainings == history.trainings and again.totals == history.totals


def test_a_training_remembered_twice_counts_once(tmp_path: Path) -> None:
    """A kill between remembering and deleting the record makes the restarted node clean up (and add) again."""
    history = TrainingHistory(tmp_path / "history.json")
    history.add(record(1, image_count=4), "done", finished=1100.0)
    history.add(record(1, image_count=4), "done", finished=1200.0)
    assert len(history.trainings) == 1 and history.trainings[0]["finished"] == 1200.0
    assert history.totals["done"] == 1 and history.totals["images"] == 4


def test_an_unreadable_history_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text("{not json")
    history = TrainingHistory(path)
    assert history.trainings == [] and history.totals["done"] == 0
    history.add(record(1), "done")
    assert json.loads(path.read_text())["totals"]["done"] == 1


async def test_remember_logs_a_disk_error_instead_of_raising(tmp_path: Path) -> None:
    history = TrainingHistory(tmp_path / "missing-dir" / "sub" / "history.json")
    (tmp_path / "missing-dir").write_text("a file where a directory should be")
    await history.remember(record(1), aborted=False)  # cleanup goes on
    assert history.trainings  # kept in memory for the page
