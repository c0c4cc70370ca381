"""Trainer status, training details and metrics as exchanged with the Loop over Socket.IO."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from .models import Category


class TrainerState(StrEnum):
    IDLE = "idle"
    BLOCKED = "blocked"
    INITIALIZED = "initialized"
    WAITING_FOR_SLOT = "waiting_for_slot"
    PREPARING = "preparing"
    DATA_DOWNLOADING = "data_downloading"
    DATA_DOWNLOADED = "data_downloaded"
    TRAIN_MODEL_DOWNLOADING = "train_model_downloading"
    TRAIN_MODEL_DOWNLOADED = "train_model_downloaded"
    RUNNING = "running"
    TRAINING_FINISHED = "training_finished"
    CONFUSION_MATRIX_SYNCING = "confusion_matrix_syncing"
    CONFUSION_MATRIX_SYNCED = "confusion_matrix_synced"
    TRAIN_MODEL_UPLOADING = "train_model_uploading"
    TRAIN_MODEL_UPLOADED = "train_model_uploaded"
    DETECTING = "detecting"
    DETECTED = "detected"
    DETECTION_UPLOADING = "detection_uploading"
    READY_FOR_CLEANUP = "ready_for_cleanup"


class Context(BaseModel):
    organization: str
    project: str


class PretrainedModel(BaseModel):
    name: str
    label: str
    description: str


class TrainingDetails(BaseModel):
    """The third argument of `begin_training(organization, project, details)`."""

    model_config = ConfigDict(extra="allow")

    categories: list[Category]
    hyperparameters: dict[str, Any]
    training_number: StrictInt
    model_variant: StrictStr
    base_model_uuid: str | None = None


class TrainingStatus(BaseModel):
    """Argument of `update_trainer`; `progress` runs from 0 to 1."""

    id: str
    name: str
    state: str | None = None
    uptime: float | None = None
    errors: dict[str, Any] | None = None
    progress: float | None = None
    pretrained_models: list[PretrainedModel] = Field(default_factory=list)
    architecture: str | None = None
    context: Context | None = None


class TrainingOut(BaseModel):
    """Third argument of `update_training(organization, project, training_out)`."""

    trainer_id: str
    trainer_name: str | None = None
    confusion_matrix: dict[str, dict[str, int]] | None = None
    train_image_count: int | None = None
    test_image_count: int | None = None
    hyperparameters: dict[str, Any] | None = None
    best_epoch: int | None = None
