"""What the trainer's unit tests share: settings, a record, a step context on the fake Loop, a fake child."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from loop_shared.schemas import Category
from loop_shared.settings import load_settings
from loop_trainer.logic import STOP_FILE, Reporter, TrainerLogic, TrainingJob
from loop_trainer.record import TrainingRecord
from loop_trainer.settings import TrainerSettings
from loop_trainer.steps import StepContext
from loop_trainer.training_paths import TrainingPaths
from tests.e2e.plugins import InstantTrainer
from tests.fake_loop import FakeLoop, FakeProject

ORG, PROJECT = "org", "proj"


def settings(tmp_path: Path, **overrides: Any) -> TrainerSettings:
    return load_settings(TrainerSettings, data_dir=tmp_path / "data", trainer_logic="tests.e2e.plugins:InstantTrainer",
                         organization=ORG, project=PROJECT, retry_base=0.01, retry_cap=0.02, **overrides)


def record(**overrides: Any) -> TrainingRecord:
    values: dict[str, Any] = {"id": "t1", "organization": ORG, "project": PROJECT, "training_number": 7,
                              "categories": [Category(id="c1", name="cat", type="box")], "hyperparameters": {}}
    return TrainingRecord(**{**values, **overrides})


def jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((16, 16, 3), 200, np.uint8))
    assert ok
    return data.tobytes()


def model_zip(**model_json: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", b"weights")
        archive.writestr("model.json", json.dumps({"id": "m", "organization": ORG, "project": PROJECT,
                                                   "version": "1.0", **model_json}))
    return buffer.getvalue()


def project_with_images(loop: FakeLoop, sets: dict[str, str | None], state: str = "complete") -> FakeProject:
    project = loop.project(ORG, PROJECT)
    for image_id, split in sets.items():
        project.image_data[image_id] = {"state": state, "set": split, "width": 16, "height": 16}
        project.jpegs[image_id] = jpeg()
    return project


class InProcessChild:
    """The child process's work, done in this process: train or detect with the plugin, then hand the progress
    lines to `on_report` as the real runner does. Records the arguments; `errors` are raised first, one per run."""

    def __init__(self, logic: TrainerLogic, on_report: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.logic, self.on_report = logic, on_report
        self.runs: list[list[str]] = []
        self.errors: list[Exception] = []

    async def __call__(self, args: list[str], log_path: Path, progress_path: Path) -> None:
        self.runs.append(args)
        if self.errors:
            raise self.errors.pop(0)
        command, job_file, *rest = args
        job = TrainingJob.model_validate_json(Path(job_file).read_text())
        if command == "train":
            self.logic.train(job, Reporter(progress_path, job.training_dir / STOP_FILE))
            for line in progress_path.read_text().splitlines() if progress_path.exists() else []:
                if self.on_report is not None:
                    self.on_report(json.loads(line))
            await asyncio.sleep(0.05)  # what it reported is handled while a real child still runs
        else:
            images = [Path(p) for p in json.loads(Path(rest[1]).read_text())]
            detections = self.logic.detect(job, Path(rest[0]), images)
            Path(rest[2]).write_text(json.dumps([d.model_dump(mode="json") for d in detections]))


class Published:
    """A fake metrics publisher: records what would have gone to the Loop."""

    def __init__(self) -> None:
        self.records: list[int | None] = []

    async def __call__(self, record: TrainingRecord) -> None:
        assert record.best_metrics is not None
        self.records.append(record.best_metrics.get("epoch"))
        record.synced_epoch = record.best_metrics.get("epoch")


def context(tmp_path: Path, loop: FakeLoop, rec: TrainingRecord | None = None, **overrides: Any) -> StepContext:
    s = settings(tmp_path)
    paths = TrainingPaths(s.data_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    rec = rec or record()
    saved: list[int] = []
    values: dict[str, Any] = {
        "settings": s, "logic": InstantTrainer(), "loop": loop, "paths": paths, "record": rec,
        "save": lambda: (saved.append(1), rec.save(paths.record_file)), "set_progress": lambda p: None,
        "run_child": InProcessChild(InstantTrainer()), "publish_metrics": Published()}
    values.update(overrides)
    return StepContext(**values)
