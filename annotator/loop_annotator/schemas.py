"""The annotator's answers, one pydantic model each, so `/docs` shows them.

`/health` and `/ready` answer `loop_shared.node_routes`' models; the status the Loop receives
(`AnnotationNodeStatus`) is extended here with what people see.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from loop_shared.schemas import AnnotationNodeStatus


class Bounds(BaseModel):
    histories: int = Field(description="People whose unfinished annotation is kept now.")
    max_histories: int
    history_bytes: int = Field(description="Memory the kept histories hold (estimated).")
    max_history_bytes: int
    dropped: dict[str, int] = Field(description="Histories dropped since start, by reason (expired, count, "
                                    "memory).")
    images_in_memory: int
    image_bytes: int


class AnnotatorStatus(AnnotationNodeStatus):
    """`GET /status`: the status the Loop receives (`update_annotation_node`), plus the connection and the bounds."""

    connected: bool = Field(description="Connected to the Loop over Socket.IO (user inputs arrive that way).")
    logic: str = Field(description="The plugin class in use.")
    events: int = Field(description="User inputs handled since start.")
    bounds: Bounds


class Activity(BaseModel):
    event_type: str
    time: float
    success: bool
    error_msg: str | None
    ms: float = Field(description="Time to answer, in milliseconds.")


class RecentActivity(BaseModel):
    """`GET /activity`: the last user inputs, newest first, for the page at `/`."""

    recent: list[Activity]
