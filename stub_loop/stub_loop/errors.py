"""Map the stub's domain errors to HTTP answers in one handler; no traceback ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from loop_shared.errors import ModelPackageError
from loop_shared.node_errors import install_allow_header

from .store import Conflict, NotFound

log = logging.getLogger("stub.errors")


def answer(exc: Exception, where: str) -> tuple[int, Any]:
    """The status and `detail` a request gets for an error; anything unexpected is a logged 500."""
    if isinstance(exc, NotFound):
        return 404, str(exc)
    if isinstance(exc, Conflict):
        return 409, exc.payload if exc.payload is not None else str(exc)
    if isinstance(exc, ModelPackageError):
        return 422, f"bad model package: {exc}"
    if isinstance(exc, ValueError):
        return 422, str(exc)
    log.error("unexpected error in %s", where, exc_info=exc)
    return 500, "internal error in the stub Loop; see its log"


def install_error_handlers(app: FastAPI) -> None:
    async def mapped(request: Request, exc: Exception) -> JSONResponse:
        status, detail = answer(exc, f"{request.method} {request.url.path}")
        return JSONResponse({"detail": detail}, status_code=status)

    for kind in (NotFound, Conflict, ModelPackageError, ValueError, Exception):
        app.add_exception_handler(kind, mapped)
    install_allow_header(app)
