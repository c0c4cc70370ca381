"""The converter's scan waits on the clock it is given: one scan of the Loop's models per `LOOP_POLL_INTERVAL`, and
after a crash the supervisor's backoff, both counted in seconds of a virtual clock that only the test moves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from loop_converter.onnx_converters import OnnxInt8Converter
from loop_converter.settings import ConverterSettings
from loop_converter.worker import Worker
from loop_shared.backoff import Backoff
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.settings import load_settings
from loop_shared.tasks import TaskHealth
from loop_testkit.virtual_clock import VirtualClock


class ModelsLoop:
    """Answers the project's model list (empty)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.scans: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/login":
            return httpx.Response(200, json={})
        assert request.url.path.endswith("/projects/p/models"), request.url
        self.scans.append(self.clock.monotonic())
        return httpx.Response(200, json={"models": []})


def worker(tmp_path: Path, loop: ModelsLoop) -> Worker:
    settings = load_settings(ConverterSettings, organization="o", project="p", host="loop.test",
                             data_dir=tmp_path, poll_interval=10.0)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop), clock=loop.clock)
    return Worker(settings, client, OnnxInt8Converter(), TaskHealth(CollectorRegistry(), "c"), clock=loop.clock)


async def test_the_loop_is_scanned_once_per_poll_interval_of_the_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = ModelsLoop(clock)
    converter = worker(tmp_path, loop)
    converter.start()
    await clock.settle()
    assert loop.scans == [1000.0]
    await clock.advance(9.9)
    assert loop.scans == [1000.0]
    await clock.advance(30.1)
    assert loop.scans == [1000.0, 1010.0, 1020.0, 1030.0, 1040.0]
    await converter.stop()


async def test_a_crashed_scan_restarts_after_the_backoff_of_the_clock(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock()
    loop = ModelsLoop(clock)
    monkeypatch.setattr(Backoff, "next_delay", lambda self: 7.0)
    converter = worker(tmp_path, loop)
    scan, broken = converter.scan, [True]

    async def crashing_scan() -> int:
        done = await scan()
        if broken[0]:  # not a LoopError: the scan crashes and its supervisor restarts it
            raise RuntimeError("a bug")
        return done

    converter.scan = crashing_scan  # type: ignore[method-assign]
    converter.start()
    await clock.settle()
    assert loop.scans == [1000.0] and converter.health.tasks["conversion"].consecutive_failures == 1
    await clock.advance(6.9)
    assert loop.scans == [1000.0]
    broken[0] = False
    await clock.advance(0.1)
    assert loop.scans == [1000.0, 1007.0] and converter.health.tasks["conversion"].consecutive_failures == 0
    await clock.advance(10.0)
    assert loop.scans == [1000.0, 1007.0, 1017.0]
    await converter.stop()
