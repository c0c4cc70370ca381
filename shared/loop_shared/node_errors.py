"""Typed errors of a node's routes and the one handler per app that maps them to HTTP answers.

A node's `errors.py` subclasses `NodeError` with a `status_code` per kind of failure (bad input, not ready, ...);
routes raise them and `install_error_handler` answers `{"detail": message}` with that code. Anything else is a
bug: logged with its traceback and answered as a 500 that names no internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class NodeError(Exception):
    """A failure the client is told about; the message says what went wrong (and how to fix it, for 4xx)."""

    status_code = 500
    headers: dict[str, str] | None = None  # sent with the answer (e.g. a 429's Retry-After)


def error_answer(exc: Exception, where: str, node: str) -> tuple[int, dict[str, str]]:
    """The status and body a request gets for an error: ours say what went wrong, anything else is a logged 500."""
    log = logging.getLogger(f"{node}.errors")
    if isinstance(exc, NodeError):
        if exc.status_code >= 500:
            log.warning("%s: %s", where, exc)
        return exc.status_code, {"detail": str(exc)}
    log.error("unexpected error in %s", where, exc_info=exc)
    return 500, {"detail": f"internal error; see the {node} log"}


def install_error_handler(app: FastAPI, node: str) -> None:
    """Answer every error of `app`'s routes through `error_answer`; `node` names the log to look in."""

    async def mapped(request: Request, exc: Exception) -> JSONResponse:
        status, body = error_answer(exc, f"{request.method} {request.url.path}", node)
        return JSONResponse(body, status_code=status, headers=exc.headers if isinstance(exc, NodeError) else None)

    # ours are answered where they happen; anything else reaches Starlette's outermost error middleware
    app.add_exception_handler(NodeError, mapped)
    app.add_exception_handler(Exception, mapped)
