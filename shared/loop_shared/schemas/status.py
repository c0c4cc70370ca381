"""Detector status and control responses, and the Socket.IO acknowledgement shape."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from .models import ModelInformation


class VersionMode(StrEnum):
    FOLLOW_LOOP = "follow_loop"
    SPECIFIC_VERSION = "specific_version"
    PAUSE = "pause"


class OperationMode(StrEnum):
    STARTUP = "startup"
    IDLE = "idle"
    DETECTING = "detecting"


class OutboxMode(StrEnum):
    CONTINUOUS_UPLOAD = "continuous_upload"
    STOPPED = "stopped"
    METERED = "metered"  # beyond the reference: only priority uploads go (a metered link)


class DetectorStatus(BaseModel):
    """Body of `POST /api/{org}/projects/{project}/detectors`."""

    uuid: str
    name: str
    state: str = "online"
    uptime: int = 0
    model_format: str
    current_model: str | None = None
    target_model: str | None = None
    errors: dict[str, Any] = Field(default_factory=dict)
    operation_mode: str = OperationMode.IDLE.value
    node_version: str | None = None


class AboutResponse(BaseModel):
    operation_mode: str
    state: str | None = None
    model_info: ModelInformation | None = None
    target_model: str | None = None
    version_control: str
    # beyond the reference: how the model is served, and what is being built to replace it
    model_format: str | None = None
    execution_provider: str | None = None
    preferred_formats: list[str] = Field(default_factory=list)
    building: dict[str, Any] | None = None


class ModelVersionResponse(BaseModel):
    """Missing versions are the string "None", exactly as the reference answers."""

    current_version: str
    target_version: str
    loop_version: str
    local_versions: list[str]
    version_control: str


class SocketResponse(BaseModel):
    success: bool
    error_msg: str | None = None
    payload: Any = None

    @classmethod
    def ok(cls, payload: Any = None) -> dict[str, Any]:
        return cls(success=True, payload=payload).model_dump()

    @classmethod
    def failure(cls, message: str, payload: Any = None) -> dict[str, Any]:
        return cls(success=False, error_msg=message, payload=payload).model_dump()
