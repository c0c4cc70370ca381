"""Edges of the outbox's delivery (loop_detector.outbox) that `make mutate` found untested: the backlog's rate and
drain estimate to the digit, the drain at shutdown (none asked, Loop failed again), and a put that wakes an idle
task. The Loop answers after one second of a virtual clock that only the test moves, so the numbers are exact."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest

from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import TASK, Outbox
from loop_detector.settings import DetectorSettings
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.settings import load_settings
from loop_testkit.virtual_clock import VirtualClock

JPEG = b"\xff\xd8" + b"j" * 100


class SlowLoop:
    """Answers each upload after `seconds` of the virtual clock: 200, or 503 (at once) while `down`.
    `started` and `answered` hold each request's moment; `images` the images of each answered 200."""

    def __init__(self, clock: VirtualClock, seconds: float = 1.0) -> None:
        self.clock, self.seconds, self.down = clock, seconds, False
        self.started: list[float] = []
        self.answered: list[float] = []
        self.images: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.started.append(self.clock.monotonic())
        if self.down:
            self.answered.append(self.clock.monotonic())
            return httpx.Response(503)
        await self.clock.sleep(self.seconds)
        self.answered.append(self.clock.monotonic())
        self.images.append(request.content.count(b'.jpg"'))
        return httpx.Response(200, json={})


def make(tmp_path: Path, loop: SlowLoop, **overrides: object) -> Outbox:
    options: dict[str, object] = {"outbox_backoff_cap": 8.0, **overrides}
    settings = load_settings(DetectorSettings, organization="o", project="p", host="loop.test", **options)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop), clock=loop.clock)
    return Outbox(tmp_path / "outbox", settings, client, DetectorMetrics(), clock=loop.clock)


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_backlog_rate_and_drain_estimate_are_exact(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop, outbox_batch_size=1)
    assert outbox.backlog() == {"mode": "continuous_upload", "priority_items": 0, "normal_items": 0, "bytes": 0,
                                "delivery_rate": None, "drain_seconds": 0.0}  # nothing waits: nothing to drain
    for _ in range(4):
        outbox.put(JPEG, {})
    waiting_bytes = outbox.store.bytes
    assert waiting_bytes > 0 and outbox.backlog()["bytes"] == waiting_bytes
    outbox.start()
    await clock.advance(1.0)  # one delivery: no rate yet
    assert loop.images == [1]
    backlog = outbox.backlog()
    assert (backlog["normal_items"], backlog["delivery_rate"], backlog["drain_seconds"]) == (3, None, None)
    await clock.advance(1.0)  # 2 images in 1 s (a second is the shortest span the rate divides by)
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (2.0, 1.0)
    await clock.advance(1.0)  # 3 images over 2 s; one waits: 1 / 1.5 = 0.67 s
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.5, 0.7)
    await clock.advance(1.0)  # 4 over 3 s, nothing waits
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.33, 0.0)
    # the Loop goes away: the rate stays known, but no estimate while the delivery fails
    loop.down = True
    outbox.put(JPEG, {})
    await clock.advance(0.5)
    assert loop.answered[-1] == clock.monotonic() - 0.5 and outbox.health.tasks[TASK].consecutive_failures == 1
    assert "Loop unreachable" in (outbox.health.tasks[TASK].last_error or "")
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.14, None)  # 4 over 3.5 s
    await clock.run(outbox.close())


async def test_a_put_wakes_the_idle_task_at_once(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop)
    outbox.start()
    await clock.settle()  # the task idles on the clock (it would look again after 5 s of it)
    outbox.put(JPEG, {})
    await until(lambda: len(loop.started) == 1)  # without the clock moving
    assert loop.started == [clock.monotonic()]
    await clock.run(outbox.close())


def failed_once(tmp_path: Path) -> tuple[VirtualClock, SlowLoop, Outbox]:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    loop.down = True
    return clock, loop, make(tmp_path, loop, outbox_batch_size=2)


async def test_no_drain_asked_leaves_everything_on_disk(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, loop, outbox = failed_once(tmp_path)
    for _ in range(5):
        outbox.put(JPEG, {})
    outbox.start()
    await clock.advance(0.0)
    loop.down = False
    caplog.set_level(logging.INFO, "detector.outbox")
    await outbox.close()
    assert len(loop.started) == 1 and outbox.depth() == 5
    assert "shutdown:" not in caplog.text


async def test_drain_ends_when_the_loop_fails_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, loop, outbox = failed_once(tmp_path)
    for _ in range(5):
        outbox.put(JPEG, {})
    outbox.start()
    await clock.advance(0.0)
    caplog.set_level(logging.INFO, "detector.outbox")
    begun = clock.monotonic()
    await clock.run(outbox.close(drain_seconds=60.0))
    assert len(loop.started) == 2 and outbox.depth() == 5  # one more attempt, not a minute of backoffs
    assert clock.monotonic() - begun < 60.0  # not the whole drain time
    assert "0 of 5 waiting images delivered" in caplog.text and "(the Loop failed again); 5 stay on disk" \
        in caplog.text


async def test_closing_an_outbox_never_started_or_twice_is_harmless(tmp_path: Path) -> None:
    clock = VirtualClock()
    outbox = make(tmp_path, SlowLoop(clock))
    await outbox.close()
    outbox.start()
    await clock.run(outbox.close())
    await clock.run(outbox.close())
