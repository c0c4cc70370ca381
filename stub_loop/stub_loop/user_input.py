"""What a person's annotation page sends through the Loop to an annotation node (`UserInput`, protocol §9), and the
statuses and annotations annotation nodes send back.

Types are strict where the reference node is (its dacite parsing refuses a float coordinate), so the stub refuses
what the node would refuse, with a reason, before forwarding. Unknown keys are kept: the stub forwards an input
as it came.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

EventType = Literal["left_mouse_down", "right_mouse_down", "mouse_move", "left_mouse_up", "right_mouse_up",
                    "key_up", "key_down"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Coordinate(_Open):
    """Integer image pixels: x to the right, y down from the top-left corner."""

    x: StrictInt
    y: StrictInt


class AnnotationContext(_Open):
    organization: StrictStr
    project: StrictStr


class InputCategory(_Open):
    id: StrictStr
    name: StrictStr
    type: StrictStr | None = None


class AnnotationData(_Open):
    coordinate: Coordinate
    event_type: EventType
    context: AnnotationContext
    image_uuid: StrictStr
    category: InputCategory
    key_up: StrictStr | None = None
    key_down: StrictStr | None = None
    epsilon: float | None = None
    is_shift_key_pressed: StrictBool | None = None


class UserInput(_Open):
    """One mouse or key event of a person annotating an image. `frontend_id` names the person's session (the
    annotation node keeps one history per id); the stub fills in the caller's Socket.IO session when it is missing."""

    frontend_id: StrictStr | None = Field(None, description="The annotating session; default: the caller's.")
    data: AnnotationData


class AnnotationNodeStatus(_Open):
    """`update_annotation_node`: `{"id","name","state","uptime","errors","capabilities"}`."""

    id: StrictStr
    name: StrictStr
    state: StrictStr | None = None
    uptime: float | None = None
    errors: dict[str, object] | None = None
    capabilities: list[StrictStr] | None = None
