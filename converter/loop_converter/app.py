"""Composition root of the converter: `create_app(settings)` with health and status routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest

from loop_shared.loop_client import LoopClient
from loop_shared.pages import install_pages
from loop_shared.plugins import load_plugin_class
from loop_shared.tasks import TaskHealth

from . import pages
from .logic import ConverterLogic
from .metrics import ConverterMetrics
from .settings import ConverterSettings
from .worker import Worker

log = logging.getLogger("converter")


def load_logic(settings: ConverterSettings) -> ConverterLogic:
    cls: type[ConverterLogic] = load_plugin_class(settings.converter_logic,
                                                  ConverterLogic,  # type: ignore[type-abstract]
                                                  "LOOP_CONVERTER_LOGIC")
    return cls()


def create_app(settings: ConverterSettings, logic: ConverterLogic | None = None) -> FastAPI:
    logic = logic or load_logic(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = LoopClient(settings)
    registry = CollectorRegistry()
    tasks = TaskHealth(registry, "loop_converter")
    worker = Worker(settings, client, logic, tasks, ConverterMetrics(registry))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        log.info("converter %s -> %s started; scanning every %.0f s", logic.source_format, logic.target_format,
                 settings.poll_interval)
        yield
        await worker.stop()
        await client.close()

    app = FastAPI(title="Learning Loop converter", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Converts models from {logic.source_format} to {logic.target_format}.")
    app.state.worker = worker
    app.include_router(pages.router)
    install_pages(app, Path(__file__).with_name("static"))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Ready once a scan of the Loop succeeded; `failing` lists background tasks that keep failing."""
        failing = tasks.failing()
        if worker.last_scan is None:
            return JSONResponse({"status": "not ready", "reason": worker.last_error or "no scan yet",
                                 "failing": failing}, 503)
        return JSONResponse({"status": "degraded" if failing else "ready", "failing": failing})

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics: conversions by result, their duration, the backlog, models waiting for a retry,
        and the health of the background tasks."""
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @app.get("/status")
    def status(request: Request) -> dict[str, Any]:
        """Formats, last scan, converted count and every failed model with its reason and next attempt."""
        return worker.status()

    return app
