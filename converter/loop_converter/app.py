"""Composition root of the converter: `create_app(settings)` wires the Loop connection and the worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from loop_shared.loop_client import LoopClient
from loop_shared.pages import install_pages
from loop_shared.plugins import load_plugin_class
from loop_shared.tasks import TaskHealth

from .errors import install_error_handlers
from .logic import ConverterLogic
from .metrics import ConverterMetrics
from .routes import health, pages
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
    app.state.worker, app.state.health, app.state.registry = worker, tasks, registry
    install_error_handlers(app)
    for module in (health, pages):
        app.include_router(module.router)
    install_pages(app, Path(__file__).with_name("static"))
    return app
