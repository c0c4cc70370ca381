"""The trainer plugin: what a user implements to train their own model architecture.

Choose an implementation with `LOOP_TRAINER_LOGIC=my_package.module:MyTrainer`. The trainer node downloads the
data, then runs `train` and later `detect` in a child process (`python -m loop_trainer.child`), so a framework
crash cannot take the node down, the output is captured to `training.log`, and stop, abort or shutdown
terminate it. `model_files` runs in the node once training has finished.

Example::

    class MyTrainer(TrainerLogic):
        model_format = "my_format"

        def train(self, job, reporter):
            for epoch in range(job.hyperparameters.get("epochs", 10)):
                if reporter.stop_requested:
                    break
                ...  # one epoch; write checkpoints below job.training_dir to allow resuming
                reporter.progress((epoch + 1) / 10)
                reporter.metrics(epoch, confusion_matrix)   # counts per category id
            save_best(job.output_dir / "model.bin")

        def model_files(self, job):
            return {"my_format": [job.output_dir / "model.bin"]}, {"resolution": 320}

        def detect(self, job, model_dir, images):
            return [Detections(image_id=path.stem, box_detections=[...]) for path in images]
"""

from __future__ import annotations

import json
import os
import signal
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from pydantic import BaseModel

from loop_shared.schemas import Category, Detections


class TrainingJob(BaseModel):
    """Everything a training needs, handed to the child process as JSON."""

    training_dir: Path
    images_dir: Path
    output_dir: Path
    categories: list[Category]
    hyperparameters: dict[str, Any]
    model_variant: str = ""
    base_model_dir: Path | None = None

    def image_data(self) -> list[dict[str, Any]]:
        """The Loop's image data of every usable image (`set` is train, val or test)."""
        return list(json.loads((self.training_dir / "image_data.json").read_text()))

    def image_path(self, image_id: str) -> Path:
        return self.images_dir / f"{image_id}.jpg"


class Reporter:
    """The child's line back to the node: progress, metrics, and whether a stop was requested.

    Each report is one JSON line appended to `progress.jsonl`; the node follows the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stop_requested = False

    def install_stop_handler(self) -> None:
        def on_term(signum: int, frame: FrameType | None) -> None:
            self.stop_requested = True
        signal.signal(signal.SIGTERM, on_term)

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": time.time(), **record}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def progress(self, fraction: float) -> None:
        self._write({"progress": max(0.0, min(1.0, float(fraction)))})

    def metrics(self, epoch: int, confusion_matrix: dict[str, dict[str, int]], **extra: Any) -> None:
        """A new best model: `confusion_matrix` maps category id to {"tp", "fp", "fn"}."""
        self._write({"epoch": epoch, "confusion_matrix": confusion_matrix, **extra})


class TrainerLogic(ABC):
    """Base class of trainer plugins. Set `model_format`; implement `train`, `model_files` and `detect`."""

    model_format: ClassVar[str] = "onnx"
    architecture: ClassVar[str] = "custom"

    @abstractmethod
    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        """Train, in a child process. Called again after a crash or a node restart: resume from checkpoints
        under `job.training_dir` when they exist. Continue from `job.base_model_dir` (the unpacked base model
        package, or None) when starting fresh. Write the final model files below `job.output_dir`. When
        `reporter.stop_requested` becomes true, finish with the best model so far. Raise (or exit non-zero) on
        failure: the node retries a few times, then ends the training with the error.
        """

    @abstractmethod
    def model_files(self, job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
        """After training: the files to upload per format, and what to add to their model.json
        (e.g. `resolution`). An empty dict of files means training produced nothing (an error)."""

    @abstractmethod
    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        """Run the new model (unpacked from the Loop into `model_dir`) on `images`, in a child process.
        Return one Detections per image with `image_id` set to the file's stem, in original pixels."""
