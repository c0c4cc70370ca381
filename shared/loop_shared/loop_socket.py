"""Socket.IO connection from a node to the Loop, kept alive by exactly one supervising task.

python-socketio's own reconnection is switched off: one task logs in, connects, waits for the disconnect, backs
off with jitter and connects again. So there is never more than one client, and a reconnect always carries a
fresh login cookie (the reference library's reconnect storms came from overlapping clients). Before each attempt
it asks `GET /api/status` (no login), as the reference trainer does, so a Loop that is down or restarting is
spared the login and the handshake. Whatever fails in an attempt, the task backs off and tries again; the waits
are on the Loop client's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from .backoff import Backoff
from .loop_api import LoopApi
from .loop_client import LoopClient
from .tasks import TaskHealth, one_line, supervise

log = logging.getLogger("loop.socket")

Handler = Callable[..., Awaitable[Any]]
SOCKET_PATH = "/ws/socket.io"


class LoopSocket:
    def __init__(self, client: LoopClient, node_type: str, handlers: dict[str, Handler],
                 on_connect: Callable[[], Awaitable[object]] | None = None,
                 backoff: Backoff | None = None, health: TaskHealth | None = None) -> None:
        self._loop_client = client
        self._api = LoopApi(client)
        self._settings = client.settings
        self._node_type = node_type
        self._handlers = handlers
        self._on_connect = on_connect
        self._backoff = backoff or Backoff(base=1.0, cap=60.0)
        self._health = health
        self._sio: socketio.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connect_count = 0

    @property
    def connected(self) -> bool:
        return self._sio is not None and self._sio.connected

    def start(self) -> None:
        if self._task is None:
            body = self._supervise
            if self._health is not None:
                health = self._health

                async def body() -> None:
                    await supervise("loop_socket", self._supervise, health)
            self._task = asyncio.create_task(body(), name=f"loop-socket-{self._node_type}")

    async def stop(self) -> None:
        self._stopping = True
        if self._sio is not None:
            await self._sio.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def call(self, event: str, *args: Any, timeout: float = 30.0) -> Any:
        """Emit `event` and wait for the Loop's acknowledgement; raises ConnectionError when not connected."""
        sio = self._sio
        if sio is None or not sio.connected:
            raise ConnectionError("not connected to the Loop")
        data: Any = args[0] if len(args) == 1 else tuple(args)
        return await sio.call(event, data, timeout=timeout)

    def _new_client(self) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False, request_timeout=20, ssl_verify=True)
        for event, handler in self._handlers.items():
            sio.on(event, self._wrap(event, handler))
        return sio

    @staticmethod
    def _wrap(event: str, handler: Handler) -> Handler:
        async def run(*args: Any) -> Any:
            try:
                return await handler(*args)
            except TypeError as e:
                log.warning("event %s had unexpected arguments: %s", event, e)
                return {"success": False, "error_msg": f"bad arguments for {event}: {e}", "payload": None}
        return run

    async def _connect_once(self) -> socketio.AsyncClient:
        await self._api.check_ready(timeout=10)
        await self._loop_client.login(force=True)
        sio = self._new_client()
        headers = {"organization": self._settings.organization, "project": self._settings.project,
                   "nodeType": self._node_type, "Cookie": self._loop_client.cookie_header()}
        await sio.connect(self._settings.socket_url, headers=headers, socketio_path=SOCKET_PATH,
                          transports=["websocket"], wait_timeout=15)
        return sio

    async def _supervise(self) -> None:
        while not self._stopping:
            try:
                self._sio = await self._connect_once()
            except Exception as e:  # Loop down, refused login, a reset mid-handshake: all mean "try again later"
                self._sio = None
                delay = self._backoff.next_delay()
                if self._health is not None:
                    self._health.failed("loop_socket", e)
                log.warning("cannot connect to the Loop at %s (%s); next try in %.1f s",
                            self._settings.socket_url, one_line(e), delay)
                await self._loop_client.clock.sleep(delay)
                continue
            self.connect_count += 1
            self._backoff.reset()
            if self._health is not None:
                self._health.ok("loop_socket")
            log.info("connected to the Loop via Socket.IO as %s", self._node_type)
            if self._on_connect is not None:
                try:
                    await self._on_connect()
                except Exception:
                    log.exception("re-registering after connect failed")
            await self._sio.wait()
            if not self._stopping:
                delay = self._backoff.next_delay()
                log.warning("lost the Socket.IO connection to the Loop; reconnecting in %.1f s", delay)
                self._sio = None
                await self._loop_client.clock.sleep(delay)
