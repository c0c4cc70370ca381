"""The converter's typed errors and their mapping to HTTP answers, in one place.

The converter's routes only read (status, conversions); a failed conversion is recorded and retried, not
reported to a caller. `ConverterError` is the base for any error a route adds later.
"""

from __future__ import annotations

from fastapi import FastAPI

from loop_shared.node_errors import NodeError, install_error_handler


class ConverterError(NodeError):
    status_code = 500


def install_error_handlers(app: FastAPI) -> None:
    install_error_handler(app, "converter")
