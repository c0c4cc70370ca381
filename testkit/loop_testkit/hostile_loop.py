"""A scriptable, hostile Learning Loop for process tests: it answers what a test tells it to and records every
request a node sends, so that tests assert on what the node did at the wire.

Routes are matched by method and path (exact, else by `fnmatch` pattern); an unscripted route answers 404.
Trainers connect over Socket.IO; `call(event, *args)` sends an event to the connected trainer and returns its
acknowledgement. The server runs in a thread of the test process (uvicorn on a free port).
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .processes import free_port

Answer = Response | Callable[[Request, bytes], Response | Awaitable[Response]]


@dataclass
class Seen:
    method: str
    path: str
    query: str
    body: bytes


@dataclass
class HostileLoop:
    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi")
        self.sids: list[str] = []
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        for event in ("update_trainer", "update_training"):
            self.sio.on(event, self._ack(event))
        self.events: list[tuple[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}  # event -> acknowledgement other than {"success": true}
        app = Starlette(routes=[Route("/{path:path}", self._serve, methods=["GET", "POST", "PUT", "DELETE"])])
        self.app = socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path="/ws/socket.io")
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    # scripting -------------------------------------------------------------------------------------------------
    def json(self, route: str, data: Any, status: int = 200) -> None:
        self.routes[route] = JSONResponse(data, status)

    def file(self, route: str, path: Path, filename: str = "model.zip") -> None:
        self.routes[route] = lambda request, body: FileResponse(path, filename=filename)

    def requests(self, pattern: str) -> list[Seen]:
        """Requests whose `METHOD /path` matches the fnmatch pattern."""
        return [s for s in self.seen if fnmatch.fnmatch(f"{s.method} {s.path}", pattern)]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    # serving -----------------------------------------------------------------------------------------------------
    async def _serve(self, request: Request) -> Response:
        body = await request.body()
        key = f"{request.method} {request.url.path}"
        self.seen.append(Seen(request.method, request.url.path, request.url.query, body))
        if key == "POST /api/login":
            response = JSONResponse({"status": "logged in"})
            response.set_cookie("session", "hostile")
            return response
        if key == "GET /api/status":
            return JSONResponse({"status": "ok"})
        answer = self.routes.get(key) or next((a for p, a in self.routes.items() if fnmatch.fnmatch(key, p)), None)
        if answer is None:
            return JSONResponse({"detail": f"not scripted: {key}"}, 404)
        if isinstance(answer, Response):
            return answer
        result = answer(request, body)
        return await result if inspect.isawaitable(result) else result

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self.sids.append(sid)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        if sid in self.sids:
            self.sids.remove(sid)

    def _ack(self, event: str) -> Callable[..., Any]:
        async def handler(sid: str, *args: Any) -> dict[str, Any]:
            self.events.append((event, args))
            return self.acks.get(event, {"success": True})
        return handler

    def call(self, event: str, *args: Any, timeout: float = 20.0) -> Any:
        """Send `event` to the first connected node and wait for its acknowledgement."""
        assert self._loop is not None and self.sids, "no node connected"
        future = asyncio.run_coroutine_threadsafe(
            self.sio.call(event, args if len(args) != 1 else args[0], to=self.sids[0], timeout=timeout), self._loop)
        return future.result(timeout + 5)

    def wait_connected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.sids:
            assert time.monotonic() < deadline, "no node connected to the hostile Loop"
            time.sleep(0.1)

    # lifecycle ---------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._server.serve())

    def __enter__(self) -> HostileLoop:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the hostile Loop did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
