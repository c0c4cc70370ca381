"""Route dependencies: the long-lived objects `create_app` put on `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from loop_shared.loop_socket import LoopSocket

from .histories import Histories
from .images import ImageCache
from .inputs import InputHandler
from .status import StatusReporter


async def get_inputs(request: Request) -> InputHandler:
    inputs: InputHandler = request.app.state.inputs
    return inputs


async def get_socket(request: Request) -> LoopSocket:
    socket: LoopSocket = request.app.state.socket
    return socket


async def get_reporter(request: Request) -> StatusReporter:
    reporter: StatusReporter = request.app.state.reporter
    return reporter


async def get_histories(request: Request) -> Histories:
    histories: Histories = request.app.state.histories
    return histories


async def get_images(request: Request) -> ImageCache:
    images: ImageCache = request.app.state.images
    return images


InputsDep = Annotated[InputHandler, Depends(get_inputs)]
SocketDep = Annotated[LoopSocket, Depends(get_socket)]
ReporterDep = Annotated[StatusReporter, Depends(get_reporter)]
HistoriesDep = Annotated[Histories, Depends(get_histories)]
ImagesDep = Annotated[ImageCache, Depends(get_images)]
