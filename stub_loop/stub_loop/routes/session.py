"""Status and cookie login, as the reference client uses them."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response

from loop_shared.loop_api import paths
from loop_shared.node_errors import error_responses

from ..deps import SESSION_COOKIE, SettingsDep, StoreDep
from ..schemas import StatusMessage

router = APIRouter()
log = logging.getLogger("stub.session")


@router.get(paths.STATUS.template)
def status() -> StatusMessage:
    """Liveness of the Loop: nodes poll this before logging in."""
    return StatusMessage(status="ok")


@router.post(paths.LOGIN.template, responses=error_responses(401))
def login(response: Response, store: StoreDep, settings: SettingsDep,
          username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> StatusMessage:
    """Form login; sets the `session` cookie that every protected route and the Socket.IO handshake need."""
    if not settings.open_login:
        # compared as UTF-8 bytes: hmac.compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
        expected = settings.password.get_secret_value().encode()
        if not (hmac.compare_digest(username.encode(), settings.username.encode())
                and hmac.compare_digest(password.encode(), expected)):
            log.info("refused login for %r", username)
            raise HTTPException(status_code=401, detail="wrong user name or password")
    token = store.create_session(username)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax")
    return StatusMessage(status="logged in")


@router.post("/logout")
def logout(request: Request, response: Response, store: StoreDep) -> StatusMessage:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store.delete_session(token)
    response.delete_cookie(SESSION_COOKIE)
    return StatusMessage(status="logged out")
