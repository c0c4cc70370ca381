"""Route dependencies: the long-lived objects `create_app` put on `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loop_shared.loop_socket import LoopSocket

from .lifecycle import Lifecycle


async def get_lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle = request.app.state.lifecycle
    return lifecycle


async def get_socket(request: Request) -> LoopSocket:
    socket: LoopSocket = request.app.state.socket
    return socket


LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
SocketDep = Annotated[LoopSocket, Depends(get_socket)]
