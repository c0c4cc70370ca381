"""The converter's answers to the shared `/health`, `/ready`, `/metrics` and `/status` routes."""

from __future__ import annotations

from loop_shared.node_routes import NotReady, Ready, TaskHealthDep, node_router

from ..deps import WorkerDep
from ..schemas import ConverterStatus


def readiness(worker: WorkerDep, health: TaskHealthDep) -> Ready | NotReady:
    """Ready once a scan of the Loop succeeded; `failing` lists background tasks that keep failing."""
    failing = health.failing()
    if worker.last_scan is None:
        return NotReady(reason=worker.last_error or "no scan yet", failing=failing)
    return Ready(status=Ready.status_for(failing), failing=failing)


def status(worker: WorkerDep) -> ConverterStatus:
    """Formats, last scan, converted count and every failed model with its reason and next attempt."""
    return ConverterStatus.model_validate(worker.status())


router = node_router(readiness, status=status, metrics_help="Prometheus metrics: conversions by result, their "
                     "duration, the backlog, models waiting for a retry, and the health of the background tasks.")
