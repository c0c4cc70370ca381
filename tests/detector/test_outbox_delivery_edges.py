"""Edges of the outbox's delivery (loop_detector.outbox) that `make mutate` found untested: the backlog's rate and
drain estimate to the digit and its five-minute window, the drain at shutdown (none asked, Loop failed again, time
up, asked before the first attempt, stopped), a put that wakes an idle task, an item whose file vanished, what each
failure counts, stopping while an upload is under way, and the upload in flight at shutdown. The Loop answers after
one second of a virtual clock that only the test moves, so the numbers are exact; each step of that clock is
bounded in real time, so a mutant that ends the task fails the test within seconds instead of hanging it."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import httpx
import pytest

from loop_detector import outbox as outbox_module
from loop_detector.errors import OutboxFullError
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import TASK, Outbox
from loop_detector.outbox_store import Item
from loop_detector.settings import DetectorSettings
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.schemas import OutboxMode
from loop_shared.settings import load_settings
from loop_testkit.virtual_clock import VirtualClock

T = TypeVar("T")
JPEG = b"\xff\xd8" + b"j" * 100


class SlowLoop:
    """Answers each upload after `seconds` of the virtual clock: 200, or 503 (at once) while `down`.
    `started` and `answered` hold each request's moment; `images` the images of each answered 200."""

    def __init__(self, clock: VirtualClock, seconds: float = 1.0) -> None:
        self.clock, self.seconds, self.down = clock, seconds, False
        self.started: list[float] = []
        self.answered: list[float] = []
        self.images: list[int] = []
        self.names: list[str] = []  # the JSON part of each image answered 200, as named on the wire
        self.timeouts: list[dict[str, float]] = []
        self.failures: list[httpx.Response | Exception] = []  # answered (or raised) first, one per request
        self.requests: list[list[str]] = []  # the images of each request, as named on the wire
        self.refused: set[str] = set()  # a request with any of these images is answered 422 at once

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.started.append(self.clock.monotonic())
        self.timeouts.append(request.extensions["timeout"])
        names = [unquote(name) for name in re.findall(r'filename="image_([^"]+)\.json"',
                                                      request.content.decode(errors="replace"))]
        self.requests.append(names)
        if self.refused & set(names):
            return httpx.Response(422, json={"detail": "refused"})
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        if self.down:
            self.answered.append(self.clock.monotonic())
            return httpx.Response(503)
        await self.clock.sleep(self.seconds)
        self.answered.append(self.clock.monotonic())
        self.images.append(request.content.count(b'.jpg"'))
        self.names.extend(names)
        return httpx.Response(200, json={})


def make(tmp_path: Path, loop: SlowLoop, **overrides: object) -> Outbox:
    options: dict[str, object] = {"outbox_backoff_cap": 8.0, **overrides}
    settings = load_settings(DetectorSettings, organization="o", project="p", host="loop.test", **options)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop), clock=loop.clock)
    return Outbox(tmp_path / "outbox", settings, client, DetectorMetrics(), clock=loop.clock)


def wire(item_id: str) -> str:
    """The identifier an item travels under (the reference's timestamp with colons)."""
    return Item(item_id, False, 0).identifier


async def bounded(step: Awaitable[T], seconds: float = 10.0) -> T:
    """A step of the virtual clock, failing after `seconds` of real time rather than the clock's own minute: a
    delivery task that crashed restarts on the real clock and may never sleep on the virtual one again."""
    return await asyncio.wait_for(step, seconds)


def counted(outbox: Outbox, name: str, **labels: str) -> float:
    return outbox.metrics.registry.get_sample_value(name, labels) or 0.0


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
    await bounded(clock.advance(1.0))  # one delivery: no rate yet
    assert loop.images == [1]
    backlog = outbox.backlog()
    assert (backlog["normal_items"], backlog["delivery_rate"], backlog["drain_seconds"]) == (3, None, None)
    await bounded(clock.advance(1.0))  # 2 images in 1 s (a second is the shortest span the rate divides by)
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (2.0, 1.0)
    await bounded(clock.advance(1.0))  # 3 images over 2 s; one waits: 1 / 1.5 = 0.67 s
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.5, 0.7)
    await bounded(clock.advance(1.0))  # 4 over 3 s, nothing waits
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.33, 0.0)
    # the Loop goes away: the rate stays known, but no estimate while the delivery fails
    loop.down = True
    outbox.put(JPEG, {})
    await bounded(clock.advance(0.5))
    assert loop.answered[-1] == clock.monotonic() - 0.5 and outbox.health.tasks[TASK].consecutive_failures == 1
    assert "Loop unreachable" in (outbox.health.tasks[TASK].last_error or "")
    assert (outbox.backlog()["delivery_rate"], outbox.backlog()["drain_seconds"]) == (1.14, None)  # 4 over 3.5 s
    await bounded(clock.run(outbox.close()))


async def test_a_put_wakes_the_idle_task_at_once(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop)
    outbox.start()
    await bounded(clock.settle())  # the task idles on the clock (it would look again after 5 s of it)
    outbox.put(JPEG, {})
    await until(lambda: len(loop.started) == 1)  # without the clock moving
    assert loop.started == [clock.monotonic()]
    await bounded(clock.run(outbox.close()))


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
    await bounded(clock.advance(0.0))
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
    await bounded(clock.advance(0.0))
    caplog.set_level(logging.INFO, "detector.outbox")
    begun = clock.monotonic()
    await bounded(clock.run(outbox.close(drain_seconds=60.0)))
    assert len(loop.started) == 2 and outbox.depth() == 5  # one more attempt, not a minute of backoffs
    assert clock.monotonic() - begun < 60.0  # not the whole drain time
    assert "0 of 5 waiting images delivered" in caplog.text and "(the Loop failed again); 5 stay on disk" \
        in caplog.text


async def test_closing_an_outbox_never_started_or_twice_is_harmless(tmp_path: Path) -> None:
    clock = VirtualClock()
    outbox = make(tmp_path, SlowLoop(clock))
    await outbox.close()
    outbox.start()
    await bounded(clock.run(outbox.close()))
    await bounded(clock.run(outbox.close()))


# --- an item whose file vanished --------------------------------------------------------------------------------

async def test_an_item_whose_file_vanished_is_dropped_counted_and_the_rest_of_its_batch_delivered(
        tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop, outbox_batch_size=2)
    outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.advance(1.0))  # delivered alone; the next request may carry two
    assert loop.images == [1]
    await outbox.set_mode(OutboxMode.STOPPED)
    gone, kept = outbox.put(JPEG, {}), outbox.put(JPEG, {})
    jpg, meta = outbox.store.files(outbox.store.queues[False][0])
    assert jpg.name == f"{gone}.jpg"
    jpg.unlink()  # removed behind the outbox's back (a disk clean-up, a bad sector)
    await outbox.set_mode(OutboxMode.CONTINUOUS_UPLOAD)
    await bounded(clock.advance(1.0))
    assert loop.images == [1, 1] and outbox.depth() == 0  # the one left of the batch of two went on its own
    assert loop.names[1:] == [wire(kept)]  # not the one that vanished, nor lost with it
    assert counted(outbox, "loop_detector_outbox_dropped_total", reason="corrupt") == 1
    assert counted(outbox, "loop_detector_outbox_uploaded_total") == 2
    assert not meta.exists() and sorted(p.name for p in meta.parent.iterdir()) == []
    assert outbox.health.tasks[TASK].consecutive_failures == 0
    await bounded(clock.run(outbox.close()))


# --- a refused image -------------------------------------------------------------------------------------------

async def test_a_refused_batch_is_split_in_halves_until_the_refused_image_is_alone(tmp_path: Path) -> None:
    """Eight images, the sixth refused (422): the slow start sends 1, 2, then 4 images; the four are split into two
    halves, the refused half again; the refused image goes to quarantine, nothing counts as a failure, and the
    next request already carries what the window allows."""
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop, outbox_batch_size=4)
    w = [wire(outbox.put(JPEG, {})) for _ in range(8)]
    loop.refused = {w[5]}
    outbox.start()
    await bounded(clock.advance(10.0))
    assert loop.requests == [w[0:1], w[1:3], w[3:7], w[3:5], w[5:7], w[5:6], w[6:7], w[7:8]]
    assert loop.names == [*w[:5], *w[6:]] and outbox.depth() == 0
    assert counted(outbox, "loop_detector_outbox_quarantined_total") == 1
    assert len(list(outbox.store.quarantine_dir.iterdir())) == 2  # its JPEG and its JSON, kept
    assert outbox.health.tasks[TASK].consecutive_failures == 0 and outbox.health.tasks[TASK].last_error is None
    await bounded(clock.run(outbox.close()))


# --- what each failure counts, and the upload's own timeout -----------------------------------------------------

async def test_each_failure_is_counted_under_its_reason_and_an_upload_may_take_two_minutes(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    loop.failures = [httpx.Response(429, headers={"retry-after": "3"}), httpx.ConnectError("refused"),
                     httpx.Response(503), httpx.Response(403, text="forbidden")]
    outbox = make(tmp_path, loop)
    outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.advance(0.0))
    assert counted(outbox, "loop_detector_outbox_upload_failures_total", reason="429") == 1
    assert (outbox.health.tasks[TASK].last_error or "").startswith("Loop answered 429 (")
    await bounded(clock.advance(3.0))  # Retry-After
    assert counted(outbox, "loop_detector_outbox_upload_failures_total", reason="unreachable") == 1
    assert (outbox.health.tasks[TASK].last_error or "").startswith("Loop unreachable (")
    await bounded(clock.advance(8.0))  # within the backoff cap
    assert counted(outbox, "loop_detector_outbox_upload_failures_total", reason="503") == 1
    await bounded(clock.advance(8.0))
    assert counted(outbox, "loop_detector_outbox_upload_failures_total", reason="403") == 1
    assert outbox.health.tasks[TASK].last_error == "Loop answered POST /o/projects/p/images: HTTP 403: forbidden"
    await bounded(clock.advance(8.0 + 1.0))
    assert loop.images == [1] and outbox.depth() == 0
    assert outbox.health.tasks[TASK].consecutive_failures == 0 and outbox.health.failing() == {}  # recovered
    # a batch of images takes longer than an ordinary request (LOOP_REQUEST_TIMEOUT, 30 s): two minutes
    assert loop.timeouts == [{"connect": 120.0, "read": 120.0, "write": 120.0, "pool": 120.0}] * 5
    await bounded(clock.run(outbox.close()))


# --- the delivery rate ------------------------------------------------------------------------------------------

async def test_the_rate_counts_deliveries_of_the_last_five_minutes_inclusive(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop, outbox_batch_size=1)
    outbox.put(JPEG, {})
    outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.advance(2.0))  # delivered at 1001 and 1002
    assert loop.answered == [1001.0, 1002.0] and outbox.backlog()["delivery_rate"] == 2.0
    await bounded(clock.advance(299.0))  # the first is exactly 300 s old: still counted (2 images over 300 s)
    assert outbox.backlog()["delivery_rate"] == 0.01
    await bounded(clock.advance(0.5))  # now older: one delivery left, no rate
    assert outbox.backlog()["delivery_rate"] is None
    await bounded(clock.run(outbox.close()))


async def test_the_rate_counts_the_last_50_deliveries_at_most(tmp_path: Path) -> None:
    """Memory for the rate is bounded: 60 deliveries (one image, then 59 of two) a second apart; 100 s after the
    last, the rate is that of the last 50 alone: 100 images since the eleventh, 149 s ago."""
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop, outbox_batch_size=2)
    for _ in range(119):
        outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.advance(60.0), 60.0)  # 60 deliveries, each journalled and removed with an fsync
    assert loop.images == [1] + [2] * 59 and loop.answered[10] == 1011.0 and outbox.depth() == 0
    await bounded(clock.advance(100.0))
    assert outbox.backlog()["delivery_rate"] == round(100 / 149, 2) == 0.67
    await bounded(clock.run(outbox.close()))


# --- modes ------------------------------------------------------------------------------------------------------

async def test_stopping_returns_once_the_upload_in_flight_is_answered(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop)
    outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.settle())  # the request is under way; the Loop answers after one second
    assert len(loop.started) == 1 and loop.answered == []
    stopping = asyncio.ensure_future(outbox.set_mode(OutboxMode.STOPPED))
    await bounded(clock.settle(stopping.done))
    assert not stopping.done()
    await bounded(clock.run(stopping))  # the clock moves on to the answer, and no further
    assert loop.answered == [1001.0] == [clock.monotonic()] and outbox.depth() == 0
    await outbox.set_mode(OutboxMode.CONTINUOUS_UPLOAD)  # returns at once: nothing to wait for
    await bounded(clock.run(outbox.close()))


async def test_a_stopped_outbox_closes_at_once_even_when_a_drain_is_asked(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop)
    outbox.start()
    await outbox.set_mode(OutboxMode.STOPPED)
    outbox.put(JPEG, {})
    caplog.set_level(logging.INFO, "detector.outbox")
    begun = clock.monotonic()
    await bounded(clock.run(outbox.close(drain_seconds=60.0)))
    assert clock.monotonic() == begun and loop.started == [] and outbox.depth() == 1
    assert "shutdown:" not in caplog.text


# --- the drain at shutdown --------------------------------------------------------------------------------------

async def test_a_drain_asked_before_the_first_attempt_ends_when_that_attempt_fails(tmp_path: Path) -> None:
    """Closed right after the start (the task has not run yet, no failure counted): the first failure ends the
    drain, not the second."""
    clock = VirtualClock()
    loop = SlowLoop(clock)
    loop.down = True
    outbox = make(tmp_path, loop)
    for _ in range(3):
        outbox.put(JPEG, {})

    async def start_and_close_at_once() -> None:
        outbox.start()  # the task is created, and runs at the close's first wait
        await outbox.close(drain_seconds=60.0)

    await bounded(clock.run(start_and_close_at_once()))
    assert len(loop.started) == 1 and outbox.depth() == 3


async def test_a_drain_ends_when_its_time_is_up_to_the_tick(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The drain looks every 0.05 s; with 0.1 s to drain it looks twice and stops at 0.1 s exactly (the clock starts
    at 0, where 0.05 + 0.05 is 0.1)."""
    clock = VirtualClock(start=0.0)
    loop = SlowLoop(clock, seconds=10.0)
    outbox = make(tmp_path, loop)
    for _ in range(3):
        outbox.put(JPEG, {})
    outbox.start()
    await bounded(clock.settle())  # one image under way for 10 s
    caplog.set_level(logging.INFO, "detector.outbox")
    await bounded(clock.run(outbox.close(drain_seconds=0.1)))
    assert clock.slept.count(0.05) == 2
    assert "shutdown: 0 of 3 waiting images delivered in 0.1 s (the drain time ran out); 3 stay on disk" \
        in caplog.text
    assert loop.images == [1] and outbox.depth() == 2  # the one in flight was answered before the task ended


# --- the upload in flight at shutdown (real time: the grace is for a real Loop's answer) -------------------------

class RealTimeLoop(SlowLoop):
    """Answers 200 after `seconds` of real time, or never (None)."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(VirtualClock(), 0.0)
        self.real_seconds = seconds

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.started.append(time.monotonic())
        if self.real_seconds is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(self.real_seconds)
        self.images.append(request.content.count(b'.jpg"'))
        return httpx.Response(200, json={})


async def test_a_shutdown_awaits_the_answer_to_the_upload_in_flight(tmp_path: Path) -> None:
    """The Loop takes 2 s to answer: longer than the second an idle task is given to end, well within the grace
    (IN_FLIGHT_GRACE, 10 s) of an upload under way. Cut off, the image would reach the Loop twice."""
    loop = RealTimeLoop(2.0)
    outbox = make(tmp_path, loop)
    outbox.put(JPEG, {})
    outbox.start()
    await until(lambda: len(loop.started) == 1)
    await asyncio.wait_for(outbox.close(), 30.0)
    assert loop.images == [1] and outbox.depth() == 0


async def test_a_shutdown_gives_up_on_a_loop_that_never_answers_and_keeps_the_image(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(outbox_module, "IN_FLIGHT_GRACE", 0.2)
    loop = RealTimeLoop(None)
    outbox = make(tmp_path, loop)
    outbox.put(JPEG, {})
    outbox.start()
    await until(lambda: len(loop.started) == 1)
    caplog.set_level(logging.INFO, "detector.outbox")
    await asyncio.wait_for(outbox.close(), 10.0)  # the grace, then the task is cancelled
    assert "the Loop did not answer the upload in flight within 0 s" in caplog.text
    assert outbox._task is not None and outbox._task.cancelled() and outbox.depth() == 1
    restarted = make(tmp_path, SlowLoop(VirtualClock()))
    assert restarted.depth() == 1  # on disk, sent again after the next start
    # and counted as maybe received twice: the Loop may have taken the request that was cut off
    assert restarted.store.interrupted == [item.id for item in restarted.store.queues[False]]


async def test_an_item_that_arrived_without_a_wakeup_goes_within_five_seconds(tmp_path: Path) -> None:
    """The idle task looks again every 5 s of the clock, whatever woke it or not (here an item stored directly)."""
    clock = VirtualClock()
    loop = SlowLoop(clock)
    outbox = make(tmp_path, loop)
    outbox.start()
    await bounded(clock.settle())
    outbox.store.put(JPEG, {}, False, True)  # no wakeup
    await bounded(clock.advance(4.9))
    assert loop.started == []
    await bounded(clock.advance(0.1))
    assert loop.started == [1005.0]
    await bounded(clock.run(outbox.close()))


# --- the budget, as the outbox is built from its settings --------------------------------------------------------

def test_the_byte_budget_is_counted_in_mebibytes(tmp_path: Path) -> None:
    """LOOP_OUTBOX_MAX_MB=1: three images of 300 000 bytes fit in 1 MiB, a fourth makes the oldest go."""
    outbox = make(tmp_path, SlowLoop(VirtualClock()), outbox_max_mb=1)
    ids = [outbox.put(b"\xff\xd8" + b"j" * 299_998, {}) for _ in range(4)]
    assert [item.id for item in outbox.store.queues[False]] == ids[1:]
    assert counted(outbox, "loop_detector_outbox_dropped_total", reason="budget") == 1


def test_a_normal_image_that_finds_the_outbox_full_of_priority_images_is_refused_and_counted(tmp_path: Path) -> None:
    outbox = make(tmp_path, SlowLoop(VirtualClock()), outbox_max_items=2)
    outbox.put(JPEG, {}, priority=True)
    outbox.put(JPEG, {}, priority=True)
    with pytest.raises(OutboxFullError):
        outbox.put(JPEG, {})  # by default an image that cannot be kept counts as dropped
    assert counted(outbox, "loop_detector_outbox_dropped_total", reason="budget") == 1
    assert outbox.depth() == 2
