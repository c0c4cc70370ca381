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


class MethodNotAllowedError(DetectorError):
    status_code = 405


class NotReadyError(DetectorError):
    """No model is loaded yet."""

    status_code = 503


class OutboxFullError(DetectorError):
    """The outbox budget is used up by items that may not be dropped."""

    status_code = 507


class QuotaExceededError(DetectorError):
    """The upload quota is used up (LOOP_UPLOAD_QUOTA_* or LOOP_ACTIVE_LEARNING)."""

    status_code = 429


class LogicError(DetectorError):
    """The detector logic failed on a valid image."""

    status_code = 500


def answer(exc: Exception, where: str) -> tuple[int, dict[str, str]]:
    """The status and body a request gets for an error: ours say what went wrong, anything else is a logged 500."""
    if isinstance(exc, DetectorError):
        if exc.status_code >= 500:
            log.warning("%s: %s", where, exc)
        return exc.status_code, {"detail": str(exc)}
    log.error("unexpected error in %s", where, exc_info=exc)
    return 500, {"detail": "internal error; see the detector log"}


def install_error_handlers(app: FastAPI) -> None:
    async def mapped(request: Request, exc: Exception) -> JSONResponse:
        status, body = answer(exc, f"{request.method} {request.url.path}")
        return JSONResponse(body, status_code=status)

    # ours are answered where they happen; anything else reaches Starlette's outermost error middleware
    app.add_exception_handler(DetectorError, mapped)
    app.add_exception_handler(Exception, mapped)
