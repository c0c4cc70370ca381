"""Composition root of the annotator: `create_app(settings)` wires the Loop connection, the stores and the plugin."""

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
from loop_shared.schemas import SegmentationAnnotation
from loop_shared.tasks import TaskHealth, spawn

from .errors import install_error_handlers
from .histories import Histories
from .images import ImageCache
from .inputs import InputHandler
from .logic import AnnotatorLogic
from .metrics import AnnotatorMetrics
from .routes import health, pages
from .settings import AnnotatorSettings
from .socket_events import SocketEvents
from .status import StatusReporter

log = logging.getLogger("annotator")
MB = 1024 * 1024


def load_logic(settings: AnnotatorSettings) -> AnnotatorLogic:
    cls: type[AnnotatorLogic] = load_plugin_class(settings.annotator_logic,
                                                  AnnotatorLogic,  # type: ignore[type-abstract]
                                                  "LOOP_ANNOTATOR_LOGIC")
    return cls()


def create_app(settings: AnnotatorSettings, logic: AnnotatorLogic | None = None) -> FastAPI:
    logic = logic or load_logic(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    name = settings.node_name or "annotator"
    client = LoopClient(settings)
    api = LoopApi(client)
    registry = CollectorRegistry()
    tasks = TaskHealth(registry, "loop_annotator")
    metrics = AnnotatorMetrics(registry)
    histories = Histories(settings.max_histories, int(settings.history_memory_mb * MB), settings.history_ttl)
    images = ImageCache(settings.data_dir, api.project, int(settings.image_memory_mb * MB), settings.image_disk_files)
    metrics.watch(histories, images)
    reporter = StatusReporter(node_uuid(settings.data_dir, name), name, logic, tasks)
    socket: LoopSocket | None = None

    async def send_annotation(organization: str, project: str, annotation: SegmentationAnnotation) -> None:
        if socket is None:
            raise ConnectionError("not connected to the Loop")
        await socket.call("update_segmentation_annotation", organization, project,
                          annotation.model_dump(mode="json"), timeout=30)

    inputs = InputHandler(logic, histories, images, send_annotation, metrics)
    socket = LoopSocket(client, "annotation_node", SocketEvents(inputs).handlers(), on_connect=reporter.send_status,
                        health=tasks)
    reporter.socket = socket

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        socket.start()
        status_task = spawn("status", lambda: reporter.run(settings.status_interval), tasks)
        log.info("annotator %s ready (logic %s)", reporter.node_id, type(logic).__name__)
        yield
        status_task.cancel()
        await socket.stop()
        await client.close()

    app = FastAPI(title="Learning Loop annotator", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Segments what people mark in the Loop; status and health only, user inputs arrive "
                              "over Socket.IO.")
    app.state.inputs, app.state.socket, app.state.reporter = inputs, socket, reporter
    app.state.histories, app.state.images, app.state.health, app.state.registry = histories, images, tasks, registry
    install_error_handlers(app)
    for module in (health, pages):
        app.include_router(module.router)
    install_pages(app, Path(__file__).with_name("static"))
    return app
