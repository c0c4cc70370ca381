"""Route dependencies: the long-lived objects the lifespan put on `app.state`.

The task health and the Prometheus registry every node has come from `loop_shared.node_routes`.

They are `async` so that FastAPI calls them on the event loop instead of hopping to a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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


EngineDep = Annotated[Engine, Depends(get_engine)]
DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
MetricsDep = Annotated[DetectorMetrics, Depends(get_metrics)]
