"""The trainer's typed errors and their mapping to HTTP answers, in one place.

The trainer's routes only read (status, trainings); its failures are reported to the Loop, not to a caller.
`TrainerError` is the base for any error a route adds later.
"""

from __future__ import annotations

from fastapi import FastAPI

from loop_shared.node_errors import NodeError, install_error_handler


class TrainerError(NodeError):
    status_code = 500


def install_error_handlers(app: FastAPI) -> None:
    install_error_handler(app, "trainer")
