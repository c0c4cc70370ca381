"""The trainer's answers, one pydantic model each, so `/docs` shows them.

`/health` and `/ready` answer `loop_shared.node_routes`' models; the status the Loop receives
(`TrainingStatus`) and the training record (`TrainingRecord`) are extended here with what people see.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loop_shared.schemas import TrainingStatus

from .record import TrainingRecord


class TrainerStatus(TrainingStatus):
    """`GET /status`: the status the Loop receives (`update_trainer`), plus the connection and the training."""

    connected: bool = Field(description="Connected to the Loop over Socket.IO (trainings arrive that way).")
    training: dict[str, Any] | None = Field(description="The current training's record without its categories "
                                            "and best metrics (counts of dropped images, crashes, ...).")


class CurrentTraining(TrainingRecord):
    """The current training's record in full, with the lifecycle's state and the current step's progress."""

    progress: float | None = Field(description="Progress of the current step (0..1).")


class Trainings(BaseModel):
    """`GET /trainings`: what the page at `/` shows."""

    current: CurrentTraining | None
    finished: list[dict[str, Any]] = Field(description="The last finished trainings, newest first, with their "
                                           "result, duration, per-epoch figures and best figures.")
    # int | float: the totals start as integers and are floats once read back from history.json
    totals: dict[str, int | float] = Field(description="Totals since the history began: trainings by result, "
                                           "seconds, crashes, images, dropped and missing images.")
