"""The trainer plugin: what a user implements to train their own model architecture.

Choose an implementation with `LOOP_TRAINER_LOGIC=my_package.module:MyTrainer`. The trainer node downloads the
data, then runs `train` and later `detect` in a child process (`python -m loop_trainer.child`), so a framework
crash cannot take the node down, the output is captured to `training.log`, and stop, abort or shutdown
terminate it. `model_files` runs in the node once training has finished.

Example::

    class MyTrainer(TrainerLogic):
        model_format = "my_format"

        def train(self, job, reporter):
            if not job.categories:
                raise TrainingError("the project has no categories")   # ends the training, no retries
            for epoch in range(job.hyperparameters.get("epochs", 10)):
                if reporter.stop_requested or reporter.shutdown_requested:
                    break
                loss = ...  # one epoch; write a checkpoint below job.training_dir to allow resuming
                reporter.progress((epoch + 1) / 10, epoch=epoch + 1, loss=loss, val_map50=score)
                reporter.metrics(epoch, confusion_matrix)   # a new best: counts per category id
            if not reporter.shutdown_requested:
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

from loop_shared.schemas import Category, Detections, PretrainedModel

STOP_SIGNAL = signal.SIGUSR1      # the user pressed stop: finish with the best model so far
SHUTDOWN_SIGNAL = signal.SIGTERM  # the node shuts down: checkpoint and exit, the training resumes later
STOP_FILE = "stop_requested"      # in the training folder: a stop that arrived before the child listened


class TrainingError(Exception):
    """Raise from `train` or `detect` for a problem no retry can fix (no usable images, a category type the
    model cannot learn, ...). The training ends at once and the message, one line a user can act on, is reported
    to the Loop. Any other exception counts as a crash: the node retries the step a few times."""


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
    """The child's line back to the node: progress, metrics, and whether a stop or a shutdown was requested.

    Each report is one JSON line appended to `progress.jsonl`; the node follows the file.
    """

    def __init__(self, path: Path, stop_file: Path | None = None) -> None:
        self.path = path
        self._stop_file = stop_file
        self._stop = False
        self.shutdown_requested = False

    @property
    def stop_requested(self) -> bool:
        """The user asked to stop: finish now with the best model so far (it is uploaded)."""
        return self._stop or (self._stop_file is not None and self._stop_file.exists())

    def install_signal_handlers(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            self._stop = True

        def on_shutdown(signum: int, frame: FrameType | None) -> None:
            self.shutdown_requested = True

        signal.signal(STOP_SIGNAL, on_stop)
        signal.signal(SHUTDOWN_SIGNAL, on_shutdown)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the node, which ends the child itself

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": time.time(), **record}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def progress(self, fraction: float, **figures: float | int | None) -> None:
        """How far the training is (0..1). Per epoch, pass its figures too (`epoch`, `loss`, `val_map50`, ...):
        the node keeps them as the training's history, from which clients draw curves."""
        self._write({"progress": max(0.0, min(1.0, float(fraction))), **figures})

    def metrics(self, epoch: int, confusion_matrix: dict[str, dict[str, int]], **extra: Any) -> None:
        """A new best model: `confusion_matrix` maps category id to {"tp", "fp", "fn"}; `extra` holds the scores
        that made it the best (e.g. `val_map50`) and those reported for it (e.g. `test_map50`)."""
        self._write({"epoch": epoch, "confusion_matrix": confusion_matrix, **extra})

    def fatal(self, reason: str) -> None:
        """The training cannot succeed (the child writes this for a TrainingError before exiting)."""
        self._write({"fatal": reason})


class TrainerLogic(ABC):
    """Base class of trainer plugins. Set `model_format`; implement `train`, `model_files` and `detect`.

    `architecture` and `pretrained_models` are reported to the Loop with every status; the `name` of a
    pretrained model comes back as the job's `model_variant` when a user picks it.
    """

    model_format: ClassVar[str] = "onnx"
    architecture: ClassVar[str] = "custom"
    pretrained_models: ClassVar[list[PretrainedModel]] = []

    @abstractmethod
    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        """Train, in a child process. Called again after a crash or a node restart: resume from checkpoints
        under `job.training_dir` when they exist. Continue from `job.base_model_dir` (the unpacked base model
        package, or None) when starting fresh. Write the final model files below `job.output_dir`.

        - `reporter.stop_requested`: the user pressed stop. Finish soon with the best model so far and write it,
          even if no evaluation has happened yet: a model that exists is better than a failed training.
        - `reporter.shutdown_requested`: the node is shutting down. Save a checkpoint and return at once without
          writing the final model; the training resumes on the next start.
        - Raise TrainingError for a problem no retry can fix (it ends the training with that message); any
          other exception (or a non-zero exit) is a crash: the node retries a few times, then gives up.
        """

    @abstractmethod
    def model_files(self, job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
        """After training: the files to upload per format, and what to add to their model.json
        (e.g. `resolution`). An empty dict of files means training produced nothing (an error)."""

    @abstractmethod
    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        """Run the new model (unpacked from the Loop into `model_dir`) on `images`, in a child process.
        Return one Detections per image with `image_id` set to the file's stem, in original pixels."""
