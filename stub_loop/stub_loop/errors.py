"""Map the stub's domain errors to HTTP answers in one place; no traceback ever reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from loop_shared.errors import ModelPackageError

from .store import Conflict, NotFound

log = logging.getLogger("stub.errors")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": exc.payload if exc.payload is not None else str(exc)}, status_code=409)

    @app.exception_handler(ModelPackageError)
    async def bad_package(_: Request, exc: ModelPackageError) -> JSONResponse:
        return JSONResponse({"detail": f"bad model package: {exc}"}, status_code=422)

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error in the stub Loop; see its log"}, status_code=500)
