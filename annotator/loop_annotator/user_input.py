"""What crosses the wire between the Loop and an annotation node (protocol §9, `annotation_data.py`).

`UserInput` is what the Loop sends with `handle_user_input`; `ToolOutput` is what a plugin answers; the
`SegmentationAnnotation` inside it is what the node sends on with `update_segmentation_annotation`. Field names
and types follow the reference exactly: the coordinate is integer pixels of the full image.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from loop_shared.schemas import Category, Context, SegmentationAnnotation


class AnnotationEventType(StrEnum):
    LEFT_MOUSE_DOWN = "left_mouse_down"
    RIGHT_MOUSE_DOWN = "right_mouse_down"
    MOUSE_MOVE = "mouse_move"
    LEFT_MOUSE_UP = "left_mouse_up"
    RIGHT_MOUSE_UP = "right_mouse_up"
    KEY_UP = "key_up"
    KEY_DOWN = "key_down"


class Coordinate(BaseModel):
    """Integer pixels of the full image; like the reference (dacite), `12.0` and `"12"` are refused."""

    x: StrictInt
    y: StrictInt


class AnnotationData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    coordinate: Coordinate
    event_type: str = Field(description="An AnnotationEventType value; other strings are accepted and ignored by "
                                        "the default tool, as in the reference.")
    context: Context
    image_uuid: str
    category: Category
    key_up: str | None = None
    key_down: str | None = None
    epsilon: float | None = None
    is_shift_key_pressed: bool | None = None


class UserInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    frontend_id: str
    data: AnnotationData


class ToolOutput(BaseModel):
    """A plugin's answer: the SVG to show over the image, and the finished annotation once confirmed."""

    svg: str
    annotation: SegmentationAnnotation | None = None


class AnnotationNodeStatus(BaseModel):
    """`update_annotation_node`'s one argument."""

    id: str
    name: str
    state: str = "online"
    uptime: int = 0
    errors: dict[str, str] = Field(default_factory=dict)
    capabilities: list[str] = Field(default_factory=list)
