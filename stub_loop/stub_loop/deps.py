"""Small FastAPI dependencies: the store, the settings, and the session check for protected routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParameter

from .received import ReceivedCounts
from .settings import StubSettings
from .store import Store

SESSION_COOKIE = "session"
SQLITE_MAX_INTEGER = 2**63 - 1


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> StubSettings:
    settings: StubSettings = request.app.state.settings
    return settings


def get_received(request: Request) -> ReceivedCounts:
    received: ReceivedCounts = request.app.state.received
    return received


def require_session(request: Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not get_store(request).session_valid(token):
        raise HTTPException(status_code=401, detail="not logged in: POST /api/login first")


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[StubSettings, Depends(get_settings)]
ReceivedDep = Annotated[ReceivedCounts, Depends(get_received)]
LoggedIn = Depends(require_session)
# bounded here so that a number SQLite cannot hold is a 422, not an OverflowError deep in the store
TrainingNumber = Annotated[int, PathParameter(ge=0, le=SQLITE_MAX_INTEGER, description="the training's number")]


def public_host(request: Request) -> str:
    """The address nodes reached us at, written into model.json as `host`."""
    return request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
