"""The annotator's typed errors and their mapping to HTTP answers, in one place.

The annotator's routes only read (status, activity); a bad user input is answered over Socket.IO with
`success: false` (inputs.py), not by a route. `AnnotatorError` is the base for any error a route adds later.
"""

from __future__ import annotations

from fastapi import FastAPI

from loop_shared.node_errors import NodeError, install_error_handler


class AnnotatorError(NodeError):
    status_code = 500


def install_error_handlers(app: FastAPI) -> None:
    install_error_handler(app, "annotator")
