"""deploy/swarm/balancer.py in-process against small servers on localhost: connections go round robin, a backend
that refuses costs no connection, one that dies mid-request cuts only that connection (and the balancer counts it),
and with no backend at all a client is told at once."""

from __future__ import annotations

import asyncio
import importlib.util
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from loop_testkit.processes import free_port
from tests.deploy.swarm import ROOT


def load_balancer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("balancer", ROOT / "deploy" / "swarm" / "balancer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


balancer = load_balancer()
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def named(name: bytes) -> Handler:
    """A backend that reads one line and answers with its name."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(name + b"\n")
        await writer.drain()
        writer.close()
    return handle


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A backend that dies with the request read: it closes without a byte of answer."""
    await reader.readline()
    writer.transport.abort()


@asynccontextmanager
async def balanced(*handlers: Handler | None) -> AsyncIterator[tuple[int, Any]]:
    """Backends on localhost (None: a port nothing listens on) behind a balancer; its port and the balancer."""
    servers, names = [], []
    for handler in handlers:
        port = free_port()
        if handler is not None:
            servers.append(await asyncio.start_server(handler, "127.0.0.1", port))
        names.append(("127.0.0.1", port))
    backends = balancer.Backends(names, hold_off=3.0)
    await backends.resolve()
    front = balancer.Balancer(backends, connect_timeout=1.0)
    port = free_port()
    server = await asyncio.start_server(front.handle, "127.0.0.1", port)
    try:
        yield port, front
    finally:
        for s in (server, *servers):
            s.close()


async def ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"who?\n")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_connections_go_round_robin_and_a_refusing_backend_costs_none() -> None:
    async with balanced(named(b"a"), None, named(b"b")) as (port, _):
        answers = Counter([await ask(port) for _ in range(30)])
    assert set(answers) == {b"a\n", b"b\n"} and answers[b"a\n"] >= 14 and answers[b"b\n"] >= 14  # none failed


async def test_a_backend_dying_mid_request_cuts_only_its_own_connections() -> None:
    async with balanced(named(b"a"), silent) as (port, front):
        answers = Counter([await ask(port) for _ in range(10)])
        for _ in range(100):  # the balancer counts a cut once its side of the connection has ended: at most 2 s
            if front.cut >= 5:
                break
            await asyncio.sleep(0.02)
        cut = front.cut
    assert answers == {b"a\n": 5, b"": 5}  # every other connection went to the dying one, and only those failed
    assert cut == 5


async def test_with_no_backend_a_client_is_closed_at_once() -> None:
    async with balanced(None) as (port, front):
        assert await asyncio.wait_for(ask(port), 5) == b""
        assert front.served == {}
