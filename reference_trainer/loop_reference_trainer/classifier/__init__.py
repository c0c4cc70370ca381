"""The reference classifier: trains on classification projects (every category of type `classification`).

`run(job, reporter)` trains, `model_files(job)` names the files and model.json metadata, `detect(job, model_dir,
images)` classifies with ONNX Runtime; ReferenceTrainerLogic calls them for classification projects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loop_shared.schemas import Detections
from loop_trainer.logic import Reporter, TrainingJob


def run(job: TrainingJob, reporter: Reporter) -> None:
    raise NotImplementedError("the reference classifier is being built (issue 29)")


def model_files(job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    return {}, {}


def detect(job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
    raise NotImplementedError("the reference classifier is being built (issue 29)")
