"""The detector's typed errors and their mapping to HTTP answers, in one place."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger("detector.errors")


class DetectorError(Exception):
    status_code = 500


class InputError(DetectorError):
    """The client sent something we cannot use; the message says what and how to fix it."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


class NotReadyError(DetectorError):
    """No model is loaded yet."""

    status_code = 503


class OutboxFullError(DetectorError):
    """The outbox budget is used up by items that may not be dropped."""

    status_code = 507


class LogicError(DetectorError):
    """The detector logic failed on a valid image."""

    status_code = 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DetectorError)
    async def domain_error(request: Request, exc: DetectorError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the detector log"}, status_code=500)
