"""The detector's own answers, one pydantic model each, so `/docs` shows them.

What the detector shares with the reference detector node (`/about`, `/model_version`, detections) is defined in
`loop_shared.schemas`; `/health` and `/ready`'s base models in `loop_shared.node_routes`. Open-ended content
(model.json, the model being built) stays a mapping: its keys are the model package's, not ours.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from loop_shared.node_routes import NotReady, Ready

BUILDING = "The model being downloaded, loaded and warmed up (version, format, since), while the previous one serves."


class DetectorReady(Ready):
    """`GET /ready` 200: a model is loaded and answering."""

    model_version: str
    model_format: str
    building: dict[str, Any] | None = Field(description=BUILDING)


class DetectorNotReady(NotReady):
    """`GET /ready` 503: no model is loaded yet; `reason` says why (e.g. the last failed build)."""

    building: dict[str, Any] | None = Field(description=BUILDING)


class ErrorAnswer(BaseModel):
    """What a typed error answers (errors.py): the message says what went wrong."""

    detail: str


class ReloadAnswer(BaseModel):
    """`POST /reload` and Socket.IO `soft_reload`: the served model was built again from its files and serves."""

    status: Literal["OK"] = "OK"
    model_version: str = Field(description="The version now serving (its model.json as read again).")
    model_format: str


class OutboxBacklog(BaseModel):
    """`GET /outbox`: what waits for the Loop and how fast it goes out."""

    mode: str
    priority_items: int
    normal_items: int
    bytes: int
    delivery_rate: float | None = Field(description="Images per second the Loop took lately.")
    drain_seconds: float | None = Field(description="How long what waits would take at that rate (null while "
                                        "nothing goes out: stopped, metered or the Loop away).")


class OutboxFigures(BaseModel):
    mode: str
    depth: int
    bytes: int
    uploaded: int
    failed_requests: int
    dropped: int
    quarantined: int
    last_error: str | None
    last_success: float | None = Field(description="When a delivery last succeeded (Unix time).")


class ActiveLearningFigures(BaseModel):
    picks: dict[str, int] = Field(description="Images each rule picked and sent to the outbox.")
    over_quota: dict[str, int] = Field(description="Images a rule picked but its own quota held back.")
    skips: dict[str, int] = Field(description="Images not sent, by reason.")


class RouteFigures(BaseModel):
    """Answers of one measured route by status, and its latency (p50 and p95 as histogram bucket bounds)."""

    statuses: dict[str, int]
    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p95_seconds: float | None


class DetectorNodeStatus(BaseModel):
    """`GET /status`: what the page at `/` shows, in one answer."""

    model: dict[str, Any] | None = Field(description="The served model's model.json.")
    model_format: str
    target_version: str | None
    loop_version: str | None
    version_control: str
    operation_mode: str
    errors: dict[str, Any]
    outbox: OutboxFigures
    active_learning: ActiveLearningFigures
    requests: dict[str, RouteFigures] = Field(description="By route: /detect, /detect/batch and /upload.")
    failing: dict[str, str]
