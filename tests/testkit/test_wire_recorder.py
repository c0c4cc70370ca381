"""The wire recorder decodes what clients send through it: HTTP requests with their bodies (by length and chunked)
and WebSocket messages (masked, and compressed where permessage-deflate was agreed), against a real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from loop_testkit.processes import free_port, wait_until
from loop_testkit.wire_recorder import Sent, WireRecorder, carries, decode

SECRET = "Zq9-wire-secret-4410"


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def socket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        await websocket.send_text(text)
        if text == "bye":
            await websocket.close()
            return


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"]), WebSocketRoute("/ws", socket_echo)])
    port = free_port()
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/echo").status_code == 200, 20, "the echo server")
    yield port
    served.should_exit = True
    thread.join(timeout=10)


def test_http_requests_are_recorded_with_headers_query_and_bodies(server: int) -> None:
    with WireRecorder("127.0.0.1", server) as wire, httpx.Client(base_url=f"http://127.0.0.1:{wire.port}") as client:
        assert client.post("/echo", data={"username": "u", "password": SECRET}).text == str(len(
            f"username=u&password={SECRET}"))
        assert client.post("/echo", content=iter([b"first ", SECRET.encode(), b" last"])).status_code == 200  # chunked
        assert client.get("/echo", params={"q": f"{SECRET}/&"}, auth=("user", SECRET)).status_code == 200
        assert client.get("/echo", headers={"x-plain": "nothing here"}).status_code == 200
        sent = wire.messages()
    assert [(m.kind, m.method, m.path) for m in sent] == [*[("http", "POST", "/echo")] * 2,
                                                          *[("http", "GET", "/echo")] * 2]
    assert sent[0].body == f"username=u&password={SECRET}".encode()
    assert sent[1].body == f"first {SECRET} last".encode()  # de-chunked
    assert [carries(m, SECRET) for m in sent] == [True, True, True, False]  # the third: query and Basic auth


def test_websocket_messages_are_unmasked_and_inflated(server: int) -> None:
    async def talk(port: int, compression: str | None) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=compression) as ws:
            for text in ("hello", f'42["status",{{"pw":"{SECRET}"}}]' * 20, "bye"):
                await ws.send(text)
                assert await ws.recv() == text

    for compression in (None, "deflate"):
        with WireRecorder("127.0.0.1", server) as wire:
            asyncio.run(talk(wire.port, compression))
            sent = wire.messages()
        upgrade, *frames = sent
        assert upgrade.kind == "http" and upgrade.path == "/ws"
        assert ("permessage-deflate" in upgrade.head.decode()) == (compression == "deflate")
        texts = [m.body for m in frames if m.kind == "websocket"]
        assert texts[:3] == [b"hello", f'42["status",{{"pw":"{SECRET}"}}]'.encode() * 20, b"bye"], texts
        assert [carries(m, SECRET) for m in frames[:3]] == [False, True, False]


def test_what_cannot_be_decoded_is_kept_whole() -> None:
    garbage = b"\x16\x03\x01 not http " + SECRET.encode()
    assert decode(0, garbage, b"") == [Sent(0, "unparsed", b"", garbage)]
    cut = b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + SECRET.encode()  # a body that never came whole
    assert [m.kind for m in decode(0, cut, b"")] == ["unparsed"] and carries(decode(0, cut, b"")[0], SECRET)


def test_nothing_listens_behind_it_the_client_sees_a_closed_connection() -> None:
    with WireRecorder("127.0.0.1", free_port()) as wire:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{wire.port}/", timeout=5)
        assert wire.messages() == []
