"""The trainer's answers to the shared `/health`, `/ready`, `/metrics` and `/status` routes."""

from __future__ import annotations

from loop_shared.node_routes import NotReady, Ready, TaskHealthDep, node_router

from ..deps import LifecycleDep, SocketDep
from ..schemas import TrainerStatus


def readiness(socket: SocketDep, health: TaskHealthDep) -> Ready | NotReady:
    """Ready while connected to the Loop (trainings arrive over that connection); `failing` lists background
    tasks that keep failing (e.g. a training step that is retried again and again)."""
    failing = health.failing()
    if not socket.connected:
        return NotReady(reason="not connected to the Loop", failing=failing)
    return Ready(status=Ready.status_for(failing), failing=failing)


def status(lifecycle: LifecycleDep, socket: SocketDep) -> TrainerStatus:
    """The status the Loop receives, plus the current training's counts (dropped images, crashes...)."""
    record = lifecycle.record
    training = record.model_dump(mode="json", exclude={"categories", "best_metrics"}) if record else None
    return TrainerStatus.model_validate({**lifecycle.status().model_dump(), "connected": socket.connected,
                                         "training": training})


router = node_router(readiness, status=status, metrics_help="Prometheus metrics: state, progress, epoch figures, "
                     "trainings and their durations, crashes, downloads, and the health of the background tasks.")
