"""Run a node: build its settings once, configure logging, create the app, serve it with uvicorn.

Every console entry point (`loop-stub`, `loop-detector`, `loop-trainer`, `loop-converter`) is this function with
its own settings class and app factory; configuration and plugin errors end the process with one line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from .errors import PluginError
from .logs import configure_logging
from .settings import ConfigurationError, NodeSettings, load_settings_or_exit

log = logging.getLogger("loop.server")
S = TypeVar("S", bound=NodeSettings)


def serve(app: Any, settings: NodeSettings, name: str) -> None:
    log.info("%s listening on %s:%d (Loop: %s)", name, settings.bind_host, settings.node_port, settings.base_url)
    uvicorn.run(app, host=settings.bind_host, port=settings.node_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=20, ws_max_size=64 * 1024 * 1024)


def run_node(settings_cls: type[S], create_app: Callable[[S], Any], name: str) -> None:
    settings = load_settings_or_exit(settings_cls)
    configure_logging(settings.log_level, [settings.password.get_secret_value()])
    try:
        app = create_app(settings)
    except ConfigurationError as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
    except PluginError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(app, settings, name)
