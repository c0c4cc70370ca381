"""Categories and model information (the content of `model.json`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class CategoryType(StrEnum):
    BOX = "box"
    POINT = "point"
    SEGMENTATION = "segmentation"
    CLASSIFICATION = "classification"


class Category(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    description: str | None = None
    hotkey: str | None = None
    color: str | None = None
    point_size: int | None = None
    type: str | None = None  # a CategoryType value; other strings are accepted, as in the reference


class ModelInformation(BaseModel):
    """`model.json`. Unknown keys are kept so that nodes can pass information on to later nodes."""

    model_config = ConfigDict(extra="allow")

    id: str
    host: str | None = None
    organization: str
    project: str
    version: StrictStr  # the Loop sends a string; a float 1.0 is a mistake worth rejecting
    categories: list[Category] = Field(default_factory=list)
    resolution: int | None = None
    model_size: str | None = None
    conf_threshold: float | None = None  # the thresholds the model was evaluated with, used by the detector
    iou_threshold: float | None = None
    format: str | None = None
