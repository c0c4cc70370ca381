"""The stub's answers to the shared `/health`, `/ready`, `/metrics` and `/status` routes (the nodes' own).

Not the Loop's API: nodes poll `/api/status` (routes/session.py) to see whether the Loop is up.
"""

from __future__ import annotations

from fastapi import Request

from loop_shared.node_routes import NotReady, Ready, node_router

from ..deps import StoreDep
from ..schemas import StubStatus
from ..trainer_hub import TrainerHub


def readiness() -> Ready | NotReady:
    """Ready whenever it answers: the store is opened before the app serves, and the stub has no background
    task that could keep failing."""
    return Ready(status="ready", failing={})


def status(store: StoreDep, request: Request) -> StubStatus:
    """How many projects the stub holds and how many trainers are connected."""
    hub: TrainerHub = request.app.state.hub  # not a deps.py alias: trainer_hub.py imports deps.py
    return StubStatus(projects=len(store.projects()), trainers=len(hub.trainers()))


router = node_router(readiness, status=status, metrics_help="Prometheus metrics: images per state, trainings per "
                     "state, models and formats, deployments, detectors and connected nodes, per project, and "
                     "what the stub received.")
