"""Run a node's ASGI app with uvicorn on the configured address (used by every console entry point)."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from .settings import NodeSettings

log = logging.getLogger("loop.server")


def serve(app: Any, settings: NodeSettings, name: str) -> None:
    log.info("%s listening on %s:%d (Loop: %s)", name, settings.bind_host, settings.node_port, settings.base_url)
    uvicorn.run(app, host=settings.bind_host, port=settings.node_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=20, ws_max_size=64 * 1024 * 1024)
