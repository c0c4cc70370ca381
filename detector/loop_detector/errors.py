"""The detector's typed errors and their mapping to HTTP answers, in one place."""

from __future__ import annotations

import math

from fastapi import FastAPI

from loop_shared.node_errors import NodeError, error_answer, install_error_handler


class DetectorError(NodeError):
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
    """The upload quota is used up (LOOP_UPLOAD_QUOTA_* or LOOP_ACTIVE_LEARNING); `Retry-After` says for how long
    (whole seconds, rounded up; none when a limit of 0 closes it for good)."""

    status_code = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        if retry_after is not None and math.isfinite(retry_after):
            self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class LogicError(DetectorError):
    """The detector logic failed on a valid image."""

    status_code = 500


class ReloadError(DetectorError):
    """The served model's files did not load again (soft_reload, POST /reload); the model loaded before keeps
    serving."""

    status_code = 500


def answer(exc: Exception, where: str) -> tuple[int, dict[str, str]]:
    """The status and body a request gets for an error (the hot path in routes/detect.py answers with it too)."""
    return error_answer(exc, where, "detector")


def install_error_handlers(app: FastAPI) -> None:
    install_error_handler(app, "detector")
