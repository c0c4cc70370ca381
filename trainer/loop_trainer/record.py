"""The persisted state of the current training, rewritten atomically after every completed step."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from loop_shared.model_package import remove_partial_writes, write_json_atomic
from loop_shared.schemas import Category, TrainerState

S = TrainerState
# persisted state -> (state while working, step name, state after success)
STEPS: dict[TrainerState, tuple[TrainerState, str, TrainerState]] = {
    S.INITIALIZED: (S.DATA_DOWNLOADING, "prepare", S.DATA_DOWNLOADED),
    S.DATA_DOWNLOADED: (S.TRAIN_MODEL_DOWNLOADING, "download_model", S.TRAIN_MODEL_DOWNLOADED),
    S.TRAIN_MODEL_DOWNLOADED: (S.RUNNING, "run_training", S.TRAINING_FINISHED),
    S.TRAINING_FINISHED: (S.CONFUSION_MATRIX_SYNCING, "sync_confusion_matrix", S.CONFUSION_MATRIX_SYNCED),
    S.CONFUSION_MATRIX_SYNCED: (S.TRAIN_MODEL_UPLOADING, "upload_model", S.TRAIN_MODEL_UPLOADED),
    S.TRAIN_MODEL_UPLOADED: (S.DETECTING, "detecting", S.DETECTED),
    S.DETECTED: (S.DETECTION_UPLOADING, "upload_detections", S.READY_FOR_CLEANUP),
}


class TrainingRecord(BaseModel):
    id: str
    organization: str
    project: str
    training_number: int
    categories: list[Category]
    hyperparameters: dict[str, Any]
    model_variant: str = ""
    base_model_uuid: str | None = None
    state: TrainerState = TrainerState.INITIALIZED
    start_time: float = Field(default_factory=time.time)
    errors: dict[str, str] = Field(default_factory=dict)
    image_count: int = 0
    train_image_count: int = 0
    test_image_count: int = 0
    dropped_corrupt: int = 0
    missing_images: int = 0
    crashes: int = 0
    stop_requested: bool = False
    best_metrics: dict[str, Any] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)  # per-epoch figures reported by the plugin
    synced_epoch: int | None = None
    model_id: str | None = None
    uploaded_formats: list[str] = Field(default_factory=list)
    detections_uploaded: int = 0
    failed: str | None = None

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: Path) -> TrainingRecord | None:
        """The record at `path` (None without one); deletes what saves killed halfway left beside it."""
        remove_partial_writes(path.parent, path.name)
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
