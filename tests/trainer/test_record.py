"""The training record on disk: what is saved comes back whole, a missing one is None, and loading deletes what
a save killed halfway left beside it (and nothing else)."""

from __future__ import annotations

import json
from pathlib import Path

from loop_shared.schemas import TrainerState
from loop_trainer.record import TrainingRecord
from tests.trainer.steps_kit import record


def test_a_saved_record_loads_back_equal_and_the_file_is_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "training" / "record.json"
    original = record(state=TrainerState.TRAINING_FINISHED, errors={"upload_model": "Loop away"},
                      history=[{"epoch": 1, "loss": 0.5}], best_metrics={"map": 0.4}, model_id="m1",
                      uploaded_formats=["onnx"], crashes=2, synced_epoch=1)
    original.save(path)
    data = json.loads(path.read_text())
    assert data["state"] == TrainerState.TRAINING_FINISHED.value and data["errors"] == {"upload_model": "Loop away"}
    assert data["categories"] == [c.model_dump(mode="json") for c in original.categories]
    loaded = TrainingRecord.load(path)
    assert loaded == original
    assert list(tmp_path.glob("training/.*")) == []  # nothing left beside it


def test_without_a_record_there_is_nothing_to_resume(tmp_path: Path) -> None:
    assert TrainingRecord.load(tmp_path / "record.json") is None


def test_loading_deletes_the_leftovers_of_killed_saves_of_this_record_only(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    record().save(path)
    leftover = tmp_path / ".record.json.abcd1234"
    leftover.write_text('{"id": ')
    others = tmp_path / ".history.json.abcd1234"
    others.write_text("[")
    loaded = TrainingRecord.load(path)
    assert loaded is not None and loaded.id == "t1"
    assert not leftover.exists()
    assert others.exists()
