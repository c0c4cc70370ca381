"""What crosses the wire between the Loop and an annotation node (protocol §4.3, §4.4, §9, `annotation_data.py`).

`UserInput` is what the Loop sends with `handle_user_input`; `ToolOutput` is what an annotator plugin answers; the
`SegmentationAnnotation` inside it is what the node sends on with `update_segmentation_annotation`;
`AnnotationNodeStatus` is `update_annotation_node`'s one argument.

Types are strict where the reference's dacite parsing is: the coordinate is integer pixels of the full image, so
`12.0` and `"12"` are refused. `event_type` is any string, as the reference accepts (`AnnotationEventType or str`);
the known values are `AnnotationEventType`. Unknown keys are kept (`model_extra`): the Loop forwards an input as it
came, and a node ignores what it does not know.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from .detections import SegmentationAnnotation
from .models import Category


class AnnotationEventType(StrEnum):
    LEFT_MOUSE_DOWN = "left_mouse_down"
    RIGHT_MOUSE_DOWN = "right_mouse_down"
    MOUSE_MOVE = "mouse_move"
    LEFT_MOUSE_UP = "left_mouse_up"
    RIGHT_MOUSE_UP = "right_mouse_up"
    KEY_UP = "key_up"
    KEY_DOWN = "key_down"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Coordinate(_Open):
    """Integer pixels of the full image: x to the right, y down from the top-left corner."""

    x: StrictInt
    y: StrictInt


class AnnotationContext(_Open):
    organization: StrictStr
    project: StrictStr


class AnnotationCategory(Category):
    """The category being drawn, as the Loop sends it (a project category; its `color` colours the drawing)."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr
    name: StrictStr


class AnnotationData(_Open):
    coordinate: Coordinate
    event_type: StrictStr = Field(description="An AnnotationEventType value; other strings are accepted (and "
                                              "ignored by the default tool), as in the reference.")
    context: AnnotationContext
    image_uuid: StrictStr
    category: AnnotationCategory
    key_up: StrictStr | None = None
    key_down: StrictStr | None = None
    epsilon: float | None = None
    is_shift_key_pressed: StrictBool | None = None


class UserInput(_Open):
    """One mouse or key event of a person annotating an image. `frontend_id` names the person's session: the
    annotation node keeps one drawing history per id."""

    frontend_id: StrictStr
    data: AnnotationData


class ToolOutput(BaseModel):
    """An annotator plugin's answer: the SVG to show over the image, and the finished annotation once confirmed."""

    svg: str
    annotation: SegmentationAnnotation | None = None


class AnnotationNodeStatus(_Open):
    """`update_annotation_node`'s one argument."""

    id: StrictStr
    name: StrictStr
    state: str = "online"
    uptime: int = Field(0, description="Seconds since the node started.")
    errors: dict[str, str] = Field(default_factory=dict)
    capabilities: list[str] = Field(default_factory=list)
