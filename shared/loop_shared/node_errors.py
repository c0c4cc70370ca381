"""Typed errors of a node's routes and the one handler per app that maps them to HTTP answers.

A node's `errors.py` subclasses `NodeError` with a `status_code` per kind of failure (bad input, not ready, ...);
routes raise them and `install_error_handler` answers `{"detail": message}` with that code. Anything else is a
bug: logged with its traceback and answered as a 500 that names no internals.

`error_responses(...)` documents the error answers a route gives (its `responses=`), so `/openapi.json` lists
every status a client can get and the fuzzer (schemathesis, `make chaos`) checks each answer against it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Route

ERROR_MEANINGS = {
    400: "The request is malformed",
    401: "Not logged in",
    404: "Not found",
    405: "Method not allowed (`Allow` names those that are)",
    409: "Conflicts with what is there already",
    413: "Too large",
    415: "Wrong content type",
    422: "The content cannot be used",
    429: "A quota is used up (`Retry-After` says for how long)",
    503: "Not ready yet",
    507: "No space left for it",
}


class ErrorDetail(BaseModel):
    """The body of every error answer."""

    detail: str | list[dict[str, Any]] | dict[str, Any] = Field(
        description="What went wrong, for a person to act on; for a request that does not match its schema, "
                    "FastAPI's list of what is wrong where; a 409 may carry what is there already (e.g. `{\"id\": "
                    "...}`).")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route (or a router) that answers these error statuses with an `ErrorDetail`."""
    return {code: {"model": ErrorDetail, "description": ERROR_MEANINGS[code]} for code in codes}


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
    install_allow_header(app)


def install_allow_header(app: FastAPI) -> None:
    """A 405 names every method of the path in `Allow` (RFC 9110), not only those of the first route Starlette
    matched: a path served by several routes (GET and DELETE, say) would otherwise list only one of them."""

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            methods = sorted({m for r in request.app.router.routes if isinstance(r, Route) and r.methods
                              and r.path_regex.match(request.url.path) for m in r.methods})
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
        return await http_exception_handler(request, exc)

    app.add_exception_handler(HTTPException, method_not_allowed)
