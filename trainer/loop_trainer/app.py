"""Composition root of the trainer: `create_app(settings)` wires the Loop connection and the lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest

from loop_shared.identity import node_uuid
from loop_shared.loop_client import LoopClient
from loop_shared.loop_socket import LoopSocket
from loop_shared.pages import install_pages
from loop_shared.plugins import load_plugin_class
from loop_shared.tasks import TaskHealth, spawn

from . import metrics as trainer_metrics
from . import pages
from .lifecycle import Lifecycle, status_loop
from .logic import TrainerLogic
from .settings import TrainerSettings

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
    lifecycle = Lifecycle(settings, client, logic, node_uuid(settings.data_dir, name), name, tasks)
    socket = LoopSocket(client, "trainer", {"begin_training": lifecycle.on_begin_training,
                                            "stop_training": lifecycle.on_stop_training,
                                            "abort_training": lifecycle.on_abort_training,
                                            "restart": lifecycle.on_restart},
                        on_connect=lifecycle.send_status, health=tasks)
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
    app.state.lifecycle = lifecycle
    app.include_router(pages.router)
    install_pages(app, Path(__file__).with_name("static"))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Ready while connected to the Loop (trainings arrive over that connection); `failing` lists background
        tasks that keep failing (e.g. a training step that is retried again and again)."""
        failing = tasks.failing()
        if not socket.connected:
            return JSONResponse({"status": "not ready", "reason": "not connected to the Loop", "failing": failing},
                                503)
        return JSONResponse({"status": "degraded" if failing else "ready", "failing": failing})

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics: state, progress, epoch figures, trainings and their durations, crashes, downloads,
        and the health of the background tasks."""
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @app.get("/status")
    def status() -> dict[str, Any]:
        """The status the Loop receives, plus the current training's counts (dropped images, crashes...)."""
        record = lifecycle.record
        return {**lifecycle.status().model_dump(mode="json"), "connected": socket.connected,
                "training": record.model_dump(mode="json", exclude={"categories", "best_metrics"}) if record else None}

    return app
