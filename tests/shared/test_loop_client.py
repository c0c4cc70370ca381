"""The REST client against scripted answers (httpx.MockTransport): login, retries, downloads. The waits between
attempts are counted on a virtual clock (loop_testkit.virtual_clock), never on the wall clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loop_shared.clock import SYSTEM_CLOCK, Clock
from loop_shared.errors import LoopAuthError, LoopResponseError, LoopUnavailableError
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.settings import NodeSettings, load_settings
from loop_testkit.virtual_clock import VirtualClock, gaps, within_backoff

FAST = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.02)


def client_for(handler: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy = FAST,
               clock: Clock = SYSTEM_CLOCK) -> LoopClient:
    """A client on the real clock (waits of 10-20 ms) unless the test hands it a virtual one to count on."""
    settings = load_settings(NodeSettings, host="loop.test", username="u", password="pw", organization="o",
                             project="p")
    return LoopClient(settings, retry=retry, transport=httpx.MockTransport(handler), clock=clock)


class Script:
    """Answers requests from a list of responses per path and records what was asked, and when on `clock`."""

    def __init__(self, answers: dict[str, list[httpx.Response]], clock: VirtualClock | None = None) -> None:
        self.answers = answers
        self.seen: list[str] = []
        self.clock = clock or VirtualClock()
        self.at: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.seen.append(key)
        self.at.append(self.clock.monotonic())
        if key == "POST /api/login":
            assert b"username=u" in request.content and b"password=pw" in request.content
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
        queue = self.answers[key]
        response = queue.pop(0) if len(queue) > 1 else queue[0]
        if response.status_code == 200 and key.endswith("/data"):
            assert request.headers.get("cookie") == "session=abc"
        return response


async def test_logs_in_once_and_sends_the_cookie() -> None:
    script = Script({"GET /api/o/projects/p/data": [httpx.Response(200, json={"image_ids": []})]})
    client = client_for(script)
    assert await client.get_json("/o/projects/p/data") == {"image_ids": []}
    assert await client.get_json("/o/projects/p/data") == {"image_ids": []}
    assert script.seen.count("POST /api/login") == 1


async def test_relogin_once_on_401() -> None:
    script = Script({"GET /api/o/projects/p/data": [httpx.Response(401), httpx.Response(200, json={"ok": 1})]})
    client = client_for(script)
    assert await client.get_json("/o/projects/p/data") == {"ok": 1}
    assert script.seen.count("POST /api/login") == 2


async def test_401_twice_is_returned_not_looped() -> None:
    script = Script({"GET /api/o/projects/p/data": [httpx.Response(401)]})
    response = await client_for(script).get("/o/projects/p/data")
    assert response.status_code == 401
    assert script.seen.count("GET /api/o/projects/p/data") == 2


async def test_429_waits_what_retry_after_says_not_the_backoff() -> None:
    clock = VirtualClock()
    script = Script({"GET /api/o/projects/p/data": [httpx.Response(429, headers={"retry-after": "7"}),
                                                   httpx.Response(200, json={})]}, clock)
    client = client_for(script, RetryPolicy(attempts=3, backoff_base=0.5, backoff_cap=30.0), clock)
    assert await clock.run(client.get_json("/o/projects/p/data")) == {}
    assert script.seen == ["POST /api/login", "GET /api/o/projects/p/data", "GET /api/o/projects/p/data"]
    assert script.at[2] - script.at[1] == 7.0 and clock.slept == [7.0]


@pytest.mark.parametrize("failure", ["503", "connection refused"])
async def test_retries_back_off_exponentially_up_to_the_cap(failure: str) -> None:
    """Six failures: the attempts come 0.25-0.5, 0.5-1, 1-2, 2-4, 2-4 virtual seconds apart (base 0.5, cap 4); in
    the first virtual second at most three attempts, however fast the answers come."""
    clock = VirtualClock()
    at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        at.append(clock.monotonic())
        if failure == "503":
            return httpx.Response(503)
        raise httpx.ConnectError("refused")

    client = client_for(handler, RetryPolicy(attempts=6, backoff_base=0.5, backoff_cap=4.0), clock)
    with pytest.raises(LoopUnavailableError):
        await clock.run(client.get("/status", requires_login=False))
    assert len(at) == 6 and within_backoff(gaps(at), 0.5, 4.0), gaps(at)
    assert sum(t - at[0] < 1.0 for t in at) <= 3


async def test_a_download_backs_off_between_attempts_too(tmp_path: Path) -> None:
    clock = VirtualClock()
    answers: list[httpx.Response | Exception] = [httpx.Response(503), httpx.ConnectError("refused"),
                                                 httpx.Response(429, headers={"retry-after": "9"}),
                                                 httpx.Response(200, content=b"zip")]
    at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        at.append(clock.monotonic())
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = client_for(handler, RetryPolicy(attempts=4, backoff_base=0.5, backoff_cap=4.0), clock)
    path = await clock.run(client.download("/model.zip", tmp_path, filename="model.zip"))
    assert path.read_bytes() == b"zip" and len(at) == 4
    assert within_backoff(gaps(at)[:2], 0.5, 4.0) and gaps(at)[2] == 9.0, gaps(at)


async def test_5xx_is_retried_then_gives_up() -> None:
    script = Script({"GET /api/o/projects/p/a": [httpx.Response(503), httpx.Response(200, json={"n": 1})],
                     "GET /api/o/projects/p/b": [httpx.Response(500)]})
    client = client_for(script)
    assert await client.get_json("/o/projects/p/a") == {"n": 1}
    with pytest.raises(LoopUnavailableError, match="HTTP 500 after 3 attempts"):
        await client.get("/o/projects/p/b")
    assert script.seen.count("GET /api/o/projects/p/b") == 3


async def test_connection_errors_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused")

    with pytest.raises(LoopUnavailableError, match="ConnectError"):
        await client_for(handler).get("/status", requires_login=False)
    assert len(calls) == 3


async def test_refused_login_is_an_auth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    with pytest.raises(LoopAuthError, match="login as 'u'"):
        await client_for(handler).login()


async def test_download_streams_to_the_named_file(tmp_path: Path) -> None:
    payload = b"z" * 300_000
    script = Script({"GET /api/o/projects/p/models/m/onnx/file": [httpx.Response(
        200, content=payload, headers={"content-disposition": 'attachment; filename="demo_1.0_onnx.zip"'})],
        "GET /api/o/projects/p/models/x/onnx/file": [httpx.Response(404, text="no such model")]})
    client = client_for(script)
    path = await client.download("/o/projects/p/models/m/onnx/file", tmp_path)
    assert path.name == "demo_1.0_onnx.zip" and path.read_bytes() == payload
    with pytest.raises(LoopResponseError, match="404"):
        await client.download("/o/projects/p/models/x/onnx/file", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["demo_1.0_onnx.zip"]


async def test_any_exception_inside_the_http_stack_is_a_connection_failure() -> None:
    """Under uvloop a connection reset right after the handshake raised AttributeError out of the socket layer;
    it must be retried like any connection error, never escape to the caller as something else."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise AttributeError("'NoneType' object has no attribute 'getpeername'")
        return httpx.Response(200, json={"ok": True})

    client = client_for(handler)
    response = await client.request("GET", "/status", requires_login=False)
    assert response.status_code == 200 and len(calls) == 3
    calls.clear()
    failing = client_for(lambda request: (_ for _ in ()).throw(AttributeError("getpeername")))
    with pytest.raises(LoopUnavailableError, match="AttributeError"):
        await failing.request("GET", "/status", requires_login=False)
    await client.close()
    await failing.close()


async def test_a_full_disk_during_a_download_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=b"x" * 1000)

    client = client_for(handler)
    real_fdopen = __import__("os").fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self.file = real_fdopen(fd, mode)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> None:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr("loop_shared.loop_client.os.fdopen", FullDisk)
    with pytest.raises(OSError, match="No space left"):
        await client.download("/model.zip", tmp_path, filename="model.zip")
    assert len(calls) == 1 and list(tmp_path.iterdir()) == []
    await client.close()
