"""Composition root of the detector: `create_app(settings)` wires every long-lived object once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import socketio
from fastapi import FastAPI

from loop_shared.identity import node_uuid
from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.pages import install_pages
from loop_shared.plugins import load_plugin_class
from loop_shared.tasks import TaskHealth

from .active_learning import Rules, load_config, with_plain_limits
from .deployment import Deployment
from .engine import Engine
from .errors import install_error_handlers
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .outbox import Outbox
from .outbox_dirs import adopt_orphans, claim
from .quotas import QuotaBook
from .relevance_filter import RelevanceFilter
from .request_metrics import RequestMetrics
from .routes import control, detect, health, reload, upload
from .settings import DetectorSettings
from .sio_server import create_sio
from .upload_policy import UploadPolicy

log = logging.getLogger("detector")
def document_paths(app: FastAPI, paths: dict[str, Any]) -> None:
    """Add path items served outside FastAPI's routing (the hot path) to the app's OpenAPI schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"] = {**paths, **schema.get("paths", {})}
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def load_logic_class(settings: DetectorSettings) -> type[DetectorLogic]:
    return load_plugin_class(settings.detector_logic, DetectorLogic,  # type: ignore[type-abstract]
                             "LOOP_DETECTOR_LOGIC")


def create_app(settings: DetectorSettings, logic_cls: type[DetectorLogic] | None = None) -> Any:
    logic_cls = logic_cls or load_logic_class(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    name = settings.node_name or f"detector {settings.organization}/{settings.project}"
    if settings.replica_id:
        name = f"{name} #{settings.replica_id}"
    metrics = DetectorMetrics()
    tasks = TaskHealth(metrics.registry, "loop_detector")
    client = LoopClient(settings)
    outbox_dir, outbox_lock = claim(settings.data_dir, settings.replica_id)  # held while the process lives
    adopt_orphans(settings.data_dir, outbox_dir)
    outbox = Outbox(outbox_dir, settings, client, metrics, tasks)
    config = with_plain_limits(load_config(settings.active_learning), settings.upload_quota_per_minute,
                               settings.upload_quota_per_hour, settings.upload_quota_per_day)
    policy = UploadPolicy(config, Rules(config, RelevanceFilter(settings)),
                          QuotaBook(outbox_dir / "quotas.json", max_scopes=4 * settings.max_cameras),
                          metrics)
    engine = Engine(settings, metrics, policy, outbox)
    project = LoopApi(client).project(settings.organization, settings.project)
    deployment = Deployment(settings, project, engine, logic_cls, metrics, node_uuid(settings.data_dir, name), name,
                            tasks)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        outbox.start()
        await deployment.start()
        log.info("detector ready for %s/%s, model format %s, logic %s", settings.organization, settings.project,
                 logic_cls.model_format, logic_cls.__name__)
        yield
        await deployment.stop()
        await outbox.close(settings.outbox_drain_seconds)
        engine.close()
        await client.close()

    app = FastAPI(title="Learning Loop detector", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Inference over REST and Socket.IO; a drop-in for the reference detector node.")
    app.state.settings, app.state.engine, app.state.deployment = settings, engine, deployment
    app.state.outbox, app.state.metrics, app.state.health = outbox, metrics, tasks
    app.state.outbox_lock, app.state.registry = outbox_lock, metrics.registry
    install_error_handlers(app)
    for module in (upload, control, reload, health):
        app.include_router(module.router)
    install_pages(app, Path(__file__).with_name("static"))
    document_paths(app, detect.OPENAPI_PATHS)
    sio = create_sio(engine, deployment, outbox)
    # outermost first: request metrics, the inference hot path, Socket.IO, then FastAPI for everything else
    served = socketio.ASGIApp(sio, other_asgi_app=app, socketio_path="/ws/socket.io")
    return RequestMetrics(detect.DetectRoutes(served, engine), metrics)
