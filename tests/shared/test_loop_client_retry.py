"""The Loop client's retries and answers, exactly: how many attempts, which waits (recorded, never slept), what
each final answer becomes, the timeouts and TLS settings a request carries, and downloads at their edges."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

from loop_shared import loop_client as loop_client_module
from loop_shared.backoff import Backoff, parse_retry_after, retry_after_seconds
from loop_shared.errors import (
    LoopConflictError,
    LoopError,
    LoopInvalidError,
    LoopNotFoundError,
    LoopRateLimitedError,
    LoopRefusedError,
    LoopResponseError,
    LoopUnauthorisedError,
    LoopUnavailableError,
)
from loop_shared.loop_client import LoopClient, RetryPolicy, _verify, answer_error
from loop_shared.settings import NodeSettings, load_settings

POLICY = RetryPolicy(attempts=4, backoff_base=0.01, backoff_cap=0.02)


def settings(**overrides: Any) -> NodeSettings:
    return load_settings(NodeSettings, host="loop.test", username="u", password="pw", organization="o",
                         project="p", **overrides)


class Loop:
    """Answers every request with `answer(request)`; logs in anyone; keeps the requests."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/login":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
        return self.answer(request)

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/api" + path]


def client(loop: Loop, retry: RetryPolicy = POLICY, **overrides: Any) -> LoopClient:
    return LoopClient(settings(**overrides), retry=retry, transport=httpx.MockTransport(loop))


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits between attempts, recorded instead of slept (whatever clock the client sleeps on ends up in
    asyncio.sleep)."""
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, result: Any = None) -> Any:
        waits.append(delay)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", record)
    yield waits


# --- final answers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kind"), [
    (400, LoopRefusedError), (401, LoopUnauthorisedError), (403, LoopRefusedError), (404, LoopNotFoundError),
    (405, LoopRefusedError), (408, LoopUnavailableError), (409, LoopConflictError), (410, LoopRefusedError),
    (413, LoopInvalidError), (414, LoopRefusedError), (422, LoopInvalidError), (423, LoopRefusedError),
    (499, LoopRefusedError), (500, LoopUnavailableError), (501, LoopUnavailableError), (503, LoopUnavailableError),
    (302, LoopResponseError), (600, LoopUnavailableError)])
def test_each_final_answer_becomes_its_typed_error(status: int, kind: type[LoopError]) -> None:
    error = answer_error("GET", "/o/p", status, "BOX", httpx.Headers())
    assert type(error) is kind
    assert str(error) == f"GET /o/p: HTTP {status}: BOX"
    assert getattr(error, "status_code", None) == status


def test_429_carries_its_retry_after_and_messages_are_cut() -> None:
    error = answer_error("GET", "/o/p", 429, "", httpx.Headers({"Retry-After": "7"}))
    assert type(error) is LoopRateLimitedError and error.retry_after == 7.0 and str(error) == "GET /o/p: HTTP 429"
    assert answer_error("GET", "/o/p", 429, "", httpx.Headers()).retry_after is None  # type: ignore[attr-defined]
    long = answer_error("PUT", "/x", 418, "y" * 300, httpx.Headers())
    assert str(long) == "PUT /x: HTTP 418: " + "y" * 200


def test_a_conflict_carries_the_answers_detail() -> None:
    detail = {"formats": ["onnx"]}
    error = answer_error("PUT", "/x", 409, '{"detail": {"formats": ["onnx"]}}', httpx.Headers())
    assert isinstance(error, LoopConflictError) and error.detail == detail and error.status_code == 409
    assert answer_error("PUT", "/x", 409, "not json", httpx.Headers()).detail is None  # type: ignore[attr-defined]
    assert answer_error("PUT", "/x", 409, "[1]", httpx.Headers()).detail is None  # type: ignore[attr-defined]


def test_retry_after_is_read_in_seconds_capped_and_otherwise_defaulted() -> None:
    assert parse_retry_after("0") == 0.0 and parse_retry_after("-5") == 0.0 and parse_retry_after("2.5") == 2.5
    assert parse_retry_after("9999") == 300.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT") is None and parse_retry_after(None) is None
    assert retry_after_seconds(None, 2.5) == 2.5 and retry_after_seconds("soon", 2.5) == 2.5
    assert retry_after_seconds("9999", 1.0) == 300.0 and retry_after_seconds("500", 1.0, cap=60) == 60.0


def test_a_reset_backoff_starts_again_at_its_base() -> None:
    backoff = Backoff(base=1.0, cap=100.0)
    delays = [backoff.next_delay() for _ in range(4)]
    assert all(2.0**n / 2 <= d <= 2.0**n for n, d in enumerate(delays))
    backoff.reset()
    assert backoff.failures == 0 and 0.5 <= backoff.next_delay() <= 1.0


# --- attempts and waits --------------------------------------------------------------------------------------

async def test_5xx_is_tried_exactly_attempts_times_within_the_backoff_cap(slept: list[float]) -> None:
    loop = Loop(lambda r: httpx.Response(503))
    with pytest.raises(LoopUnavailableError) as caught:
        await client(loop).get("/data")
    assert len(loop.calls("/data")) == 4 and len(slept) == 3
    assert all(0.005 <= d <= 0.02 for d in slept), slept
    assert str(caught.value) == "GET /data: HTTP 503 after 4 attempts" and caught.value.status_code == 503


async def test_429_waits_retry_after_and_without_it_backs_off(slept: list[float]) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(429), httpx.Response(200)]
    loop = Loop(lambda r: answers.pop(0))
    assert (await client(loop).get("/data")).status_code == 200
    assert len(loop.calls("/data")) == 3
    assert slept[0] == 3.0 and 0.01 <= slept[1] <= 0.02  # the 429 with Retry-After counted as a failure too


async def test_429_to_the_end_is_returned_for_the_caller_to_read(slept: list[float]) -> None:
    loop = Loop(lambda r: httpx.Response(429, headers={"Retry-After": "1"}))
    response = await client(loop).get("/data")
    assert response.status_code == 429 and len(loop.calls("/data")) == 4 and slept == [1.0, 1.0, 1.0]


async def test_connection_failures_are_retried_and_named(slept: list[float], caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection\n   refused")

    loop = Loop(refuse)
    with caplog.at_level(logging.WARNING, "loop.client"), pytest.raises(LoopUnavailableError) as caught:
        await client(loop).post("/data", requires_login=False)
    assert str(caught.value) == "POST /data: ConnectError: connection refused"
    assert len(loop.calls("/data")) == 4 and len(slept) == 3
    assert not any("unexpected" in r.getMessage() for r in caplog.records)  # httpx's own errors are expected

    def odd(request: httpx.Request) -> httpx.Response:
        raise AttributeError()

    caplog.clear()
    with caplog.at_level(logging.WARNING, "loop.client"), pytest.raises(LoopUnavailableError) as caught:
        await client(Loop(odd), RetryPolicy(attempts=1)).put("/data", requires_login=False)
    assert str(caught.value) == "PUT /data: AttributeError"
    assert any("unexpected AttributeError" in r.getMessage() for r in caplog.records)


# --- what a request carries ----------------------------------------------------------------------------------

async def test_verbs_arguments_and_timeouts_reach_the_loop() -> None:
    loop = Loop(lambda r: httpx.Response(200, json={"ok": True}))
    c = client(loop, request_timeout=12.0)
    await c.get("/g", params={"a": "1"})
    await c.post("/p", json={"b": 2}, timeout=5.0)
    await c.put("/u", content=b"body")
    assert await c.get_json("/j", params={"c": "3"}) == {"ok": True}
    (g,), (p,), (u,), (j,) = loop.calls("/g"), loop.calls("/p"), loop.calls("/u"), loop.calls("/j")
    assert (g.method, g.url.params["a"]) == ("GET", "1")
    assert (p.method, p.content) == ("POST", b'{"b":2}')
    assert (u.method, u.content) == ("PUT", b"body")
    assert j.url.params["c"] == "3"
    assert g.extensions["timeout"] == {"connect": 12.0, "read": 12.0, "write": 12.0, "pool": 12.0}
    assert p.extensions["timeout"] == {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


async def test_the_request_repeated_after_a_fresh_login_is_the_same_request() -> None:
    answers = [httpx.Response(401), httpx.Response(200)]
    loop = Loop(lambda r: answers.pop(0))
    c = client(loop)
    assert (await c.post("/p", json={"b": 2})).status_code == 200
    assert [r.content for r in loop.calls("/p")] == [b'{"b":2}', b'{"b":2}']
    assert len(loop.calls("/login")) == 2


async def test_login_happens_once_unless_forced_and_the_cookie_is_kept() -> None:
    loop = Loop(lambda r: httpx.Response(200))
    c = client(loop)
    await c.login()
    await c.login()
    assert len(loop.calls("/login")) == 1
    await c.login(force=True)
    assert len(loop.calls("/login")) == 2
    assert c.cookie_header() == "session=abc"
    c._http.cookies.set("other", "1")
    assert c.cookie_header() in ("session=abc; other=1", "other=1; session=abc")


async def test_get_json_names_what_went_wrong() -> None:
    loop = Loop(lambda r: httpx.Response(404, text="no such project") if r.url.path.endswith("/gone")
                else httpx.Response(200, text="<html>"))
    c = client(loop)
    with pytest.raises(LoopNotFoundError) as caught:
        await c.get_json("/gone")
    assert str(caught.value) == "GET /gone: HTTP 404: no such project" and caught.value.status_code == 404
    with pytest.raises(LoopResponseError, match=r"^GET /page: the answer is not JSON$"):
        await c.get_json("/page")


def _first_ca(tmp_path: Path) -> Path:
    pem = Path(certifi.where()).read_text()
    first = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----") + 25]
    path = tmp_path / "ca.pem"
    path.write_text(first + "\n")
    return path


def test_a_configured_ca_bundle_is_the_one_the_client_verifies_with(tmp_path: Path) -> None:
    """Checked on the context the client's connection pool holds (httpx's internals: no TLS server here)."""
    ca = _first_ca(tmp_path)
    assert _verify(settings()) is True
    context = _verify(settings(ssl_cert_path=ca))
    assert isinstance(context, ssl.SSLContext) and len(context.get_ca_certs()) == 1
    pool_context = LoopClient(settings(ssl_cert_path=ca))._http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert pool_context is not None and len(pool_context.get_ca_certs()) == 1
    default = LoopClient(settings())._http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert default is not None and default.verify_mode == ssl.CERT_REQUIRED


# --- downloads -----------------------------------------------------------------------------------------------

async def test_a_download_logs_in_when_asked_and_stages_hidden_beside_its_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staged: list[Path] = []
    replace = loop_client_module.os.replace

    def recording(src: str, dst: Path) -> None:
        staged.append(Path(src))
        replace(src, dst)

    monkeypatch.setattr(loop_client_module.os, "replace", recording)
    loop = Loop(lambda r: httpx.Response(200, content=b"zip"))
    c = client(loop, download_timeout=99.0, request_timeout=7.0)
    target = await c.download("/files/model.zip", tmp_path / "new" / "dir", requires_login=True)
    assert target == tmp_path / "new" / "dir" / "model.zip" and target.read_bytes() == b"zip"
    assert len(loop.calls("/login")) == 1
    assert staged[0].parent == target.parent and staged[0].name.startswith(".model.zip.")
    (request,) = loop.calls("/files/model.zip")
    assert request.method == "GET"
    assert request.extensions["timeout"] == {"connect": 7.0, "read": 99.0, "write": 7.0, "pool": 7.0}
    assert await c.download("/", tmp_path / "root") == tmp_path / "root" / "download"
    no_name = Loop(lambda r: httpx.Response(200, content=b"x", headers={"content-disposition": "attachment"}))
    assert (await client(no_name).download("/files/a.bin", tmp_path)).name == "a.bin"


async def test_a_download_is_tried_attempts_times_and_ends_with_the_typed_error(
        tmp_path: Path, slept: list[float]) -> None:
    unavailable = Loop(lambda r: httpx.Response(502))
    with pytest.raises(LoopUnavailableError) as caught:
        await client(unavailable).download("/f.zip", tmp_path)
    assert str(caught.value) == "GET /f.zip: HTTP 502" and caught.value.status_code == 502
    assert len(unavailable.calls("/f.zip")) == 4 and all(0.005 <= d <= 0.02 for d in slept), slept
    slept.clear()
    limited = Loop(lambda r: httpx.Response(429, headers={"Retry-After": "2"}))
    with pytest.raises(LoopRateLimitedError) as limit:
        await client(limited).download("/f.zip", tmp_path)
    assert str(limit.value) == "GET /f.zip: HTTP 429" and limit.value.retry_after == 2.0 and slept == [2.0] * 3

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    slept.clear()
    down = Loop(refuse)
    with pytest.raises(LoopUnavailableError, match=r"^GET /f\.zip: ConnectError: refused$"):
        await client(down).download("/f.zip", tmp_path)
    assert len(down.calls("/f.zip")) == 4 and len(slept) == 3
    assert list(tmp_path.iterdir()) == []


async def test_a_refused_download_says_why_even_in_broken_utf8(tmp_path: Path) -> None:
    loop = Loop(lambda r: httpx.Response(403, content=b"denied \xff"))
    with pytest.raises(LoopRefusedError) as caught:
        await client(loop).download("/f.zip", tmp_path)
    assert str(caught.value) == "GET /f.zip: HTTP 403: denied \ufffd" and caught.value.status_code == 403
