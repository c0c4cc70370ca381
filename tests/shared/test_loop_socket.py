"""The Socket.IO client against a real stub Loop process: login cookie, one client only, reconnect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_shared.backoff import Backoff
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.loop_socket import LoopSocket
from loop_shared.settings import NodeSettings, load_settings
from loop_testkit.processes import Service
from loop_testkit.virtual_clock import VirtualClock, gaps, within_backoff
from tests.conftest import PASSWORD, USERNAME


def trainers(stub: Service) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stub.url}/api/trainers").json()["trainers"])


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def socket_alive(socket: LoopSocket) -> bool:
    """Whether the supervising task still runs (a crash in it ends it: no health given, no supervisor)."""
    return socket._task is not None and not socket._task.done()


def settings_for(stub: Service, password: str = PASSWORD) -> NodeSettings:
    return load_settings(NodeSettings, host=f"127.0.0.1:{stub.port}", username=USERNAME, password=password,
                         organization="zauberzeug", project="demo")


async def test_connects_with_cookie_and_reconnects_once_after_the_loop_restarts(stub: Service, tmp_path: Path) -> None:
    client = LoopClient(settings_for(stub), RetryPolicy(attempts=2, backoff_base=0.05, backoff_cap=0.2))
    registered: list[int] = []

    async def on_connect() -> None:
        registered.append(1)
        await socket.call("update_trainer", {"id": "t-1", "name": "test trainer", "state": "idle"})

    socket = LoopSocket(client, "trainer", {}, on_connect=on_connect, backoff=Backoff(base=0.2, cap=1.0))
    socket.start()
    try:
        await wait_for(lambda: socket.connected and len(registered) == 1)
        [trainer] = trainers(stub)
        assert trainer["status"]["id"] == "t-1" and trainer["organization"] == "zauberzeug"
        stub.stop()
        await wait_for(lambda: not socket.connected)
        await asyncio.sleep(1.5)  # several failed attempts while the Loop is away
        stub.start()
        await wait_for(lambda: socket.connected and len(registered) == 2)
        await asyncio.sleep(1.0)
        assert len(trainers(stub)) == 1  # exactly one client, re-registered
        assert socket.connect_count == 2
    finally:
        await socket.stop()
        await client.close()


async def test_wrong_password_never_connects(stub: Service) -> None:
    client = LoopClient(settings_for(stub, password="wrong"), RetryPolicy(attempts=1))
    socket = LoopSocket(client, "trainer", {}, backoff=Backoff(base=0.1, cap=0.3))
    socket.start()
    await asyncio.sleep(1.0)
    assert not socket.connected and trainers(stub) == []
    await socket.stop()
    await client.close()


async def test_a_loop_whose_status_is_not_ok_is_spared_the_login_and_handshake() -> None:
    seen: list[str] = []

    def loop_restarting(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(503)

    settings = load_settings(NodeSettings, host="loop.test", username=USERNAME, password=PASSWORD)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop_restarting))
    socket = LoopSocket(client, "trainer", {}, backoff=Backoff(base=0.05, cap=0.1))
    socket.start()
    await wait_for(lambda: len(seen) >= 3 or not socket_alive(socket))
    assert socket_alive(socket), socket._task
    await socket.stop()
    await client.close()
    assert set(seen) == {"GET /api/status"} and socket.connect_count == 0


async def test_connection_attempts_back_off_on_the_clock() -> None:
    """While the Loop refuses connections, the attempts come 0.5-1, 1-2, 2-4, 4-8, 4-8 ... virtual seconds apart
    (base 1, cap 8): in 60 virtual seconds 10 to 15 of them, however fast the refusals come."""
    clock = VirtualClock()
    at: list[float] = []

    def refusing(request: httpx.Request) -> httpx.Response:
        at.append(clock.monotonic())
        raise httpx.ConnectError("refused")

    settings = load_settings(NodeSettings, host="loop.test", username=USERNAME, password=PASSWORD)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(refusing), clock=clock)
    socket = LoopSocket(client, "trainer", {}, backoff=Backoff(base=1.0, cap=8.0))
    socket.start()
    # 60 virtual seconds take a fraction of a real one; a task that ended, or connects without waiting on the clock,
    # would leave the clock's own wait for a sleeper (a minute) to end the test: fail within seconds instead
    try:
        await asyncio.wait_for(clock.advance(60.0), timeout=10.0)
    except TimeoutError:
        pytest.fail(f"the connecting task stopped waiting on the clock: {socket._task}")
    await socket.stop()
    await client.close()
    assert within_backoff(gaps(at), 1.0, 8.0) and len(at) >= 10, gaps(at)
