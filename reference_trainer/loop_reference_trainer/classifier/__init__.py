"""The reference classifier: trains on classification projects (every category of type `classification`).

`run(job, reporter)` trains, `model_files(job)` names the files and model.json metadata, `detect(job, model_dir,
images)` classifies with ONNX Runtime; ReferenceTrainerLogic calls them for classification projects. A small CNN
(the detector's blocks, global pooling, a dense head; network.py) trained as the detector is (train.py), exported
with jax2onnx to `[1, C]` probabilities (export.py); figures in metrics.py. See docs/reference-classifier.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loop_shared.schemas import Detections
from loop_trainer.logic import Reporter, TrainingJob


def run(job: TrainingJob, reporter: Reporter) -> None:
    from .train import run as train  # JAX only in the training child

    train(job, reporter)


def model_files(job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    from .package import model_files as files

    return files(job)


def detect(job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
    from .detect import detect as classify

    return classify(job, model_dir, images)
