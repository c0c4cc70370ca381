"""Route dependencies: the long-lived objects the lifespan put on `app.state`.

They are `async` so that FastAPI calls them on the event loop instead of hopping to a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loop_shared.tasks import TaskHealth

from .deployment import Deployment
from .engine import Engine
from .metrics import DetectorMetrics
from .outbox import Outbox


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


async def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


async def get_metrics(request: Request) -> DetectorMetrics:
    metrics: DetectorMetrics = request.app.state.metrics
    return metrics


async def get_health(request: Request) -> TaskHealth:
    health: TaskHealth = request.app.state.health
    return health


EngineDep = Annotated[Engine, Depends(get_engine)]
DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
MetricsDep = Annotated[DetectorMetrics, Depends(get_metrics)]
HealthDep = Annotated[TaskHealth, Depends(get_health)]
