"""Trainer configuration: the shared `LOOP_*` options plus the trainer's own."""

from __future__ import annotations

from pydantic import Field

from loop_shared.settings import NodeSettings


class TrainerSettings(NodeSettings):
    node_port: int = Field(8005, ge=1, le=65535, description="Port of the trainer's status API.")
    # no default: the trainer base ships no model of its own (the reference trainer is its own package and image)
    trainer_logic: str = Field(description="Import path of the TrainerLogic plugin class (module:Class), e.g. "
                                           "loop_reference_trainer.logic:ReferenceTrainerLogic, which the "
                                           "loop-nodes/reference-trainer image sets.")
    status_interval: float = Field(5.0, gt=0, description="Seconds between update_trainer reports to the Loop.")
    download_concurrency: int = Field(10, ge=1, le=64, description="Images downloaded at once.")
    detection_batch_size: int = Field(100, ge=1, le=100, description="Detections per upload request.")
    retry_base: float = Field(2.0, gt=0, description="First wait before retrying a failed step (s).")
    retry_cap: float = Field(300.0, gt=0, description="Longest wait before retrying a failed step (s).")
    max_crashes: int = Field(3, ge=1, description="Training-process crashes tolerated before the training fails.")
