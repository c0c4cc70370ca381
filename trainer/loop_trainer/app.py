"""Composition root of the trainer: `create_app(settings)` wires the Loop connection and the lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from loop_shared.identity import node_uuid
from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.loop_socket import LoopSocket
from loop_shared.pages import install_pages
from loop_shared.plugins import load_plugin_class
from loop_shared.tasks import TaskHealth, spawn

from . import metrics as trainer_metrics
from .errors import install_error_handlers
from .lifecycle import Lifecycle, status_loop
from .logic import TrainerLogic
from .routes import health, pages
from .settings import TrainerSettings
from .socket_events import SocketEvents

log = logging.getLogger("trainer")


def load_logic(settings: TrainerSettings) -> TrainerLogic:
    cls: type[TrainerLogic] = load_plugin_class(settings.trainer_logic, TrainerLogic,  # type: ignore[type-abstract]
                                                "LOOP_TRAINER_LOGIC")
    return cls()


def create_app(settings: TrainerSettings, logic: TrainerLogic | None = None) -> FastAPI:
    logic = logic or load_logic(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    name = settings.node_name or "trainer"
    client = LoopClient(settings)
    registry = CollectorRegistry()
    tasks = TaskHealth(registry, "loop_trainer")
    lifecycle = Lifecycle(settings, LoopApi(client), logic, node_uuid(settings.data_dir, name), name, tasks)
    socket = LoopSocket(client, "trainer", SocketEvents(lifecycle).handlers(), on_connect=lifecycle.send_status,
                        health=tasks)
    lifecycle.socket = socket
    trainer_metrics.register(registry, lifecycle)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        socket.start()
        lifecycle.start_if_pending()
        reporter = spawn("status", lambda: status_loop(lifecycle, settings.status_interval), tasks)
        log.info("trainer %s ready (logic %s, format %s)", lifecycle.node_id, type(logic).__name__,
                 logic.model_format)
        yield
        reporter.cancel()
        await lifecycle.shutdown()
        await socket.stop()
        await client.close()

    app = FastAPI(title="Learning Loop trainer", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Takes trainings from the Loop; status and health only, no control routes.")
    app.state.lifecycle, app.state.socket, app.state.health, app.state.registry = lifecycle, socket, tasks, registry
    install_error_handlers(app)
    for module in (health, pages):
        app.include_router(module.router)
    install_pages(app, Path(__file__).with_name("static"))
    return app
