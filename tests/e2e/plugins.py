"""Plugins that tests hand to node processes through LOOP_*_LOGIC, as users of the base images do."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

from loop_converter.onnx_converters import OnnxInt8Converter
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_shared.schemas import Detections
from loop_trainer.logic import Reporter, TrainerLogic, TrainingJob


class FormatAToB(OnnxInt8Converter):
    """The seed README's converter: models in `format_a` become `format_b`."""

    source_format = "format_a"
    target_format = "format_b"


class SlowBuildDetector(OnnxDetectorLogic):
    """The default ONNX logic, but loading any version other than 1.0 takes as long as an engine build may: it
    waits until the file named by SLOW_BUILD_GATE exists (a minute at most). A test looks at the detector while the
    build runs, then lets it finish."""

    def load(self) -> None:
        if self.model_info.version != "1.0":
            gate, deadline = Path(os.environ["SLOW_BUILD_GATE"]), time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        super().load()


class GatedReloadDetector(OnnxDetectorLogic):
    """The default ONNX logic, but every load after the process's first (a reload) waits until the file named by
    RELOAD_GATE exists (a minute at most): a test looks at the detector while the reload runs, then lets it finish."""

    loads: ClassVar[int] = 0

    def load(self) -> None:
        GatedReloadDetector.loads += 1
        if GatedReloadDetector.loads > 1:
            gate, deadline = Path(os.environ["RELOAD_GATE"]), time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        super().load()


class InstantTrainer(TrainerLogic):
    """Trains nothing, at once: a model file of a few bytes and no detections. For lifecycle tests that are
    about the node, not about learning."""

    model_format = "onnx"
    architecture = "instant"

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        images = job.image_data()
        reporter.progress(1.0, epoch=1, loss=0.0)
        reporter.metrics(1, {c.id: {"tp": 0, "fp": 0, "fn": 0} for c in job.categories})
        (job.output_dir / "model.onnx").write_bytes(f"{len(images)} images".encode())

    def model_files(self, job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
        model = job.output_dir / "model.onnx"
        return ({"onnx": [model]} if model.exists() else {}), {"resolution": 64}

    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        return [Detections(image_id=path.stem) for path in images]


class LeakyCrashingTrainer(InstantTrainer):
    """A careless plugin: it dies of an exception that quotes its whole environment. Whatever the child process
    knows ends up in its traceback, in training.log and in the error the node reports."""

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        raise RuntimeError(f"cannot train; environment was LOOP_PASSWORD={os.environ.get('LOOP_PASSWORD')}, "
                           f"{dict(os.environ)}")


class SlowTrainer(InstantTrainer):
    """Takes `hyperparameters["seconds"]` to train and as long to detect, and honours stop and shutdown."""

    def _wait(self, job: TrainingJob, reporter: Reporter) -> None:
        deadline = time.monotonic() + float(job.hyperparameters.get("seconds", 0))
        while time.monotonic() < deadline and not (reporter.stop_requested or reporter.shutdown_requested):
            time.sleep(0.05)

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        self._wait(job, reporter)
        if not reporter.shutdown_requested:
            super().train(job, reporter)

    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        time.sleep(float(job.hyperparameters.get("seconds", 0)))  # a shutdown ends the detect child at once
        return super().detect(job, model_dir, images)


class EpochTrainer(InstantTrainer):
    """Reports `hyperparameters["epochs"]` epochs with a falling loss and a rising val_map50 (a new best each
    epoch), then holds the training open for `hyperparameters["hold"]` seconds or until a stop: pages and metrics
    can be looked at while it runs, deterministically."""

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        epochs = int(job.hyperparameters.get("epochs", 3))
        matrix = {c.id: {"tp": 0, "fp": 0, "fn": 0} for c in job.categories}
        for epoch in range(1, epochs + 1):
            score = round(1 - 0.5 / epoch, 4)
            for counts in matrix.values():
                counts.update(tp=epoch, fp=max(0, epochs - epoch), fn=1)
            reporter.metrics(epoch, matrix, val_map50=score)
            reporter.progress(epoch / epochs, epoch=epoch, loss=round(2.0 / epoch, 4), val_map50=score)
        deadline = time.monotonic() + float(job.hyperparameters.get("hold", 0))
        while time.monotonic() < deadline and not (reporter.stop_requested or reporter.shutdown_requested):
            time.sleep(0.05)
        if not reporter.shutdown_requested:
            job.output_dir.mkdir(parents=True, exist_ok=True)
            (job.output_dir / "model.onnx").write_bytes(b"epochs")
