"""The reference trainer at a lower input resolution and fewer epochs, unless the Loop asks otherwise.

Everything else (data, child process, checkpoints, ONNX export, detection pass) is inherited, so a new
architecture only needs its own `train`, `model_files` and `detect`.
"""

from __future__ import annotations

from loop_trainer.logic import Reporter, TrainingJob
from loop_trainer.reference.logic import ReferenceTrainerLogic

QUICK_DEFAULTS = {"resolution": 192, "epochs": 20}


class QuickTrainer(ReferenceTrainerLogic):
    architecture = "loop-reference-detector-quick"

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        job = job.model_copy(update={"hyperparameters": {**QUICK_DEFAULTS, **job.hyperparameters}})
        super().train(job, reporter)
