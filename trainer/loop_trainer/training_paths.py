"""Where a training keeps its files: its folder, the project's image cache, and the job the child process reads.

Ids and names reach a path only through `inside`, after `loop_shared.names` accepted them (the record does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loop_shared.names import inside

from .logic import TrainingJob
from .record import TrainingRecord


@dataclass(frozen=True)
class TrainingPaths:
    data_dir: Path

    @property
    def root(self) -> Path:
        """The current training's folder lives here; it is wiped when a new training begins."""
        return self.data_dir / "training"

    @property
    def record_file(self) -> Path:
        return self.root / "record.json"

    def training_dir(self, record: TrainingRecord) -> Path:
        return inside(self.root, self.root / record.id)

    def images_dir(self, record: TrainingRecord) -> Path:
        """Images are kept between trainings, per project."""
        images = self.data_dir / "images"
        return inside(images, images / record.organization / record.project)

    def job(self, record: TrainingRecord) -> TrainingJob:
        tdir = self.training_dir(record)
        base = tdir / "base_model"
        return TrainingJob(training_dir=tdir, images_dir=self.images_dir(record), output_dir=tdir / "output",
                           categories=record.categories, hyperparameters=record.hyperparameters,
                           model_variant=record.model_variant, base_model_dir=base if base.exists() else None)

    def write_job(self, record: TrainingRecord) -> tuple[TrainingJob, Path]:
        """The job as the child process reads it, in the training folder."""
        job = self.job(record)
        job_file = job.training_dir / "job.json"
        job_file.write_text(job.model_dump_json())
        return job, job_file
