"""Composition root of the stub Loop: `create_app(settings)` builds the FastAPI app with Socket.IO mounted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI

from .annotator_hub import AnnotatorHub
from .demo import seed_demo
from .errors import install_error_handlers
from .received import ReceivedCollector, ReceivedCounts
from .routes import annotator, health, models, pages, projects, received, session, trainings
from .settings import StubSettings
from .store import Store
from .trainer_hub import TrainerHub

log = logging.getLogger("stub")


def create_app(settings: StubSettings) -> Any:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.data_dir)
    counts = ReceivedCounts(settings.data_dir)
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], max_http_buffer_size=64 * 2**20)
    hub = TrainerHub(store, sio)
    annotators = AnnotatorHub(hub, store, counts, sio, timeout=settings.stub_annotator_timeout)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.stub_demo:
            await asyncio.to_thread(seed_demo, store, settings)
        log.info("stub Loop ready; data in %s", settings.data_dir)
        yield
        counts.close()
        store.close()

    app = FastAPI(title="Learning Loop stub", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="A test double of the Learning Loop's node-facing API. Not the Learning Loop.")
    app.state.settings, app.state.store, app.state.hub, app.state.received = settings, store, hub, counts
    app.state.annotators = annotators
    install_error_handlers(app)
    for module in (session, projects, models, trainings, received, annotator):
        app.include_router(module.router, prefix="/api")
    app.include_router(models.upload_router, prefix="/api")
    pages.install(app, store, hub)  # the page at /, /docs offline, /demo.jpg, the metrics registry
    app.state.registry.register(ReceivedCollector(counts))
    app.include_router(health.router)  # /health, /ready, /metrics, /status as every node serves them
    return socketio.ASGIApp(sio, other_asgi_app=app, socketio_path="/ws/socket.io")
