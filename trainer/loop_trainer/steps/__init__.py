"""The training steps, one module each, by the names record.STEPS gives them.

The step runner (step_runner.py) moves a training through them in the order of record.STEPS, persisting the
state after each; see steps/context.py for what a step receives and how it reports failure.
"""

from . import base_model, detecting, detections_upload, metrics, model_upload, prepare, training
from .context import ChildRunner, PermanentError, Step, StepContext

STEPS_BY_NAME: dict[str, Step] = {
    "prepare": prepare.run,
    "download_model": base_model.run,
    "run_training": training.run,
    "sync_confusion_matrix": metrics.run,
    "upload_model": model_upload.run,
    "detecting": detecting.run,
    "upload_detections": detections_upload.run,
}

__all__ = ["STEPS_BY_NAME", "ChildRunner", "PermanentError", "Step", "StepContext"]
