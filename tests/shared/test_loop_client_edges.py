"""Edges of the Loop client that `make mutate` found untested: a 429 that outlasts every attempt of `get_json`, how
much of an error answer's body reaches the error, and a failed download whose temporary file another process's
start-up sweep took away meanwhile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_shared import loop_client as loop_client_module
from loop_shared.errors import LoopNotFoundError, LoopRateLimitedError
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.model_package import remove_partial_writes
from loop_shared.settings import NodeSettings, load_settings

POLICY = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.02)


def client_for(answer: Any, requests: list[httpx.Request]) -> LoopClient:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/api/login":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
        response: httpx.Response = answer(request)
        return response

    settings = load_settings(NodeSettings, host="loop.test", username="u", password="pw", organization="o",
                             project="p")
    return LoopClient(settings, retry=POLICY, transport=httpx.MockTransport(handler))


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits between attempts, recorded instead of slept."""
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, result: Any = None) -> Any:
        waits.append(delay)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", record)
    yield waits


async def test_get_json_rate_limited_to_the_end_raises_the_typed_error_with_retry_after(slept: list[float]) -> None:
    requests: list[httpx.Request] = []
    client = client_for(lambda r: httpx.Response(429, text="slow down", headers={"Retry-After": "3"}), requests)
    with pytest.raises(LoopRateLimitedError) as caught:
        await client.get_json("/o/p/data")
    assert caught.value.retry_after == 3.0 and str(caught.value) == "GET /o/p/data: HTTP 429: slow down"
    assert len([r for r in requests if r.url.path == "/api/o/p/data"]) == 3 and slept == [3.0, 3.0]
    await client.close()


async def test_a_refused_download_carries_at_most_200_bytes_of_the_answer(tmp_path: Path) -> None:
    """The body is cut in bytes before it is decoded: 150 two-byte characters give the first 100."""
    client = client_for(lambda r: httpx.Response(404, content=("é" * 150).encode()), [])
    with pytest.raises(LoopNotFoundError) as caught:
        await client.download("/f.zip", tmp_path)
    assert str(caught.value) == "GET /f.zip: HTTP 404: " + "é" * 100
    await client.close()


async def test_a_full_disk_after_a_sweep_took_the_temporary_is_still_the_error_raised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica that starts meanwhile sweeps the shared folder (`remove_partial_writes`) and takes the download's
    temporary file; then the disk is full. The caller sees the full disk, once, not a retried connection failure
    made of the cleanup's FileNotFoundError."""
    requests: list[httpx.Request] = []
    client = client_for(lambda r: httpx.Response(200, content=b"x" * 1000), requests)
    real_fdopen = os.fdopen

    class SweptThenFull:
        def __init__(self, fd: int, mode: str) -> None:
            self.file = real_fdopen(fd, mode)

        def __enter__(self) -> SweptThenFull:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> None:
            assert remove_partial_writes(tmp_path, "model.zip") == 1
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(loop_client_module.os, "fdopen", SweptThenFull)
    with pytest.raises(OSError, match="No space left on device"):
        await client.download("/model.zip", tmp_path, filename="model.zip")
    assert len(requests) == 1 and list(tmp_path.iterdir()) == []
    await client.close()
