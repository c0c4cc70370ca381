"""The outbox against a scripted Loop: durability, budget, backoff, bisection of refused batches. Backoff and
Retry-After are counted on a virtual clock (loop_testkit.virtual_clock) that only the test moves."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from loop_detector.errors import OutboxFullError
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import Outbox
from loop_detector.outbox_store import Item
from loop_detector.settings import DetectorSettings
from loop_shared.clock import SYSTEM_CLOCK, Clock
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.settings import load_settings
from loop_testkit.virtual_clock import VirtualClock, gaps, within_backoff

JPEG = b"\xff\xd8" + b"j" * 100
PART = re.compile(r'filename="image_([^"]+)\.(json|jpg)"')


def wire(item_id: str) -> str:
    """The identifier an item travels under (the reference's timestamp with colons)."""
    return Item(item_id, False, 0).identifier


class FakeLoop:
    """Accepts multipart uploads; answers from a policy function per batch of image ids (as sent, in order).
    `at` holds each request's moment on `clock`, `statuses` its answer."""

    def __init__(self, policy: Callable[[list[str]], httpx.Response] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.policy = policy or (lambda ids: httpx.Response(200, json={}))
        self.clock = clock
        self.received: list[str] = []
        self.requests: list[list[str]] = []
        self.at: list[float] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = PART.findall(request.content.decode(errors="replace"))
        ids = [unquote(name) for name, ext in parts if ext == "json"]
        assert [unquote(name) for name, ext in parts if ext == "jpg"] == ids  # a JSON and a JPEG per item
        self.requests.append(ids)
        self.at.append(self.clock.monotonic())
        response = self.policy(ids)
        self.statuses.append(response.status_code)
        if response.status_code == 200:
            self.received.extend(ids)
        return response


def make_outbox(tmp_path: Path, loop: FakeLoop, clock: Clock = SYSTEM_CLOCK,
                **overrides: object) -> tuple[Outbox, DetectorMetrics]:
    options: dict[str, object] = {"outbox_backoff_cap": 0.2, **overrides}
    settings = load_settings(DetectorSettings, organization="o", project="p", host="loop.test", **options)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop), clock=clock)
    metrics = DetectorMetrics()
    return Outbox(tmp_path / "outbox", settings, client, metrics, clock=clock), metrics


async def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def metric(metrics: DetectorMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_items_are_on_disk_before_put_returns_and_survive_a_restart(tmp_path: Path) -> None:
    loop = FakeLoop()
    outbox, _ = make_outbox(tmp_path, loop)
    ids = [outbox.put(JPEG, {"tags": [str(i)], "image_size": {"width": 1}}) for i in range(3)]
    assert sorted(p.stem for p in (tmp_path / "outbox" / "normal").glob("*.json")) == sorted(ids)
    meta = json.loads((tmp_path / "outbox" / "normal" / f"{ids[0]}.json").read_text())
    assert meta == {"tags": ["0"]}  # our own additions stay off the wire
    # a crash between writing the image and its metadata leaves no item behind
    (tmp_path / "outbox" / "normal" / "99999999999999999999-orphan.jpg").write_bytes(JPEG)
    restarted, _ = make_outbox(tmp_path, loop)
    assert restarted.depth() == 3
    assert not (tmp_path / "outbox" / "normal" / "99999999999999999999-orphan.jpg").exists()
    restarted.start()
    await wait_for(lambda: restarted.depth() == 0)
    await restarted.close()
    assert sorted(loop.received) == sorted(map(wire, ids))


async def test_priority_first_then_oldest(tmp_path: Path) -> None:
    loop = FakeLoop()
    outbox, _ = make_outbox(tmp_path, loop, outbox_batch_size=2)
    normal = [outbox.put(JPEG, {}) for _ in range(4)]
    urgent = outbox.put(JPEG, {}, priority=True)
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    # a slow start: one image first, then as many as the batch size allows
    assert loop.requests == [[wire(urgent)], [wire(n) for n in normal[:2]], [wire(n) for n in normal[2:]]]


async def test_refused_item_is_quarantined_and_the_rest_delivered(tmp_path: Path) -> None:
    bad: list[str] = []

    def policy(ids: list[str]) -> httpx.Response:
        return httpx.Response(422, json={"detail": "broken"}) if wire(bad[0]) in ids else httpx.Response(200)

    loop = FakeLoop(policy)
    outbox, metrics = make_outbox(tmp_path, loop, outbox_batch_size=8)
    ids = [outbox.put(JPEG, {}) for _ in range(8)]
    bad.append(ids[5])
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert sorted(loop.received) == sorted(map(wire, set(ids) - {ids[5]}))
    assert (tmp_path / "outbox" / "quarantine" / f"{ids[5]}.jpg").exists()
    assert metric(metrics, "loop_detector_outbox_quarantined_total") == 1


async def test_loop_down_backs_off_then_delivers_everything(tmp_path: Path) -> None:
    """30 virtual seconds of a Loop answering 503: the attempts come 0.5-1, 1-2, 2-4, 4-8, 4-8 ... seconds apart
    (capped exponential backoff with half-jitter), so 6 to 10 of them; the first after the Loop's return comes
    within the cap and delivers everything."""
    clock = VirtualClock()
    state = {"down": True}

    def policy(ids: list[str]) -> httpx.Response:
        return httpx.Response(503) if state["down"] else httpx.Response(200)

    loop = FakeLoop(policy, clock)
    outbox, metrics = make_outbox(tmp_path, loop, clock, outbox_backoff_cap=8.0)
    ids = [outbox.put(JPEG, {}) for _ in range(5)]
    outbox.start()
    await clock.advance(30.0)
    attempts_while_down = len(loop.requests)
    assert within_backoff(gaps(loop.at), 1.0, 8.0) and 6 <= attempts_while_down <= 10, gaps(loop.at)
    assert outbox.depth() == 5
    state["down"], back = False, clock.monotonic()
    await clock.advance(8.0)
    assert outbox.depth() == 0 and loop.statuses[attempts_while_down:] == [200, 200, 200]
    assert loop.at[attempts_while_down] - back <= 8.0
    await outbox.close()
    assert sorted(loop.received) == sorted(map(wire, ids))
    assert metric(metrics, "loop_detector_outbox_upload_failures_total", reason="503") == attempts_while_down


async def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    clock = VirtualClock()
    answers = [httpx.Response(429, headers={"retry-after": "6"}), httpx.Response(200)]
    loop = FakeLoop(lambda ids: answers.pop(0) if len(answers) > 1 else answers[0], clock)
    outbox, _ = make_outbox(tmp_path, loop, clock)  # its own backoff would wait 0.1-0.2 s
    outbox.put(JPEG, {})
    outbox.start()
    await clock.advance(5.9)
    assert loop.statuses == [429] and outbox.depth() == 1
    await clock.advance(0.1)
    assert loop.statuses == [429, 200] and gaps(loop.at) == [6.0] and outbox.depth() == 0
    await outbox.close()


async def test_budget_drops_oldest_normal_items_counted(tmp_path: Path) -> None:
    outbox, metrics = make_outbox(tmp_path, FakeLoop(), outbox_max_items=3)
    ids = [outbox.put(JPEG, {}) for _ in range(5)]
    assert outbox.depth() == 3
    assert sorted(p.stem for p in (tmp_path / "outbox" / "normal").glob("*.json")) == ids[2:]
    assert metric(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 2
    for _ in range(3):
        outbox.put(JPEG, {}, priority=True)
    with pytest.raises(OutboxFullError):
        outbox.put(JPEG, {}, priority=True, drop_when_full=False)


async def test_stopped_mode_uploads_nothing(tmp_path: Path) -> None:
    loop = FakeLoop()
    outbox, _ = make_outbox(tmp_path, loop)
    outbox.start()
    from loop_shared.schemas import OutboxMode
    await outbox.set_mode(OutboxMode.STOPPED)
    outbox.put(JPEG, {})
    await asyncio.sleep(0.5)
    assert loop.requests == [] and outbox.depth() == 1
    await outbox.set_mode(OutboxMode.CONTINUOUS_UPLOAD)
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()


async def test_new_images_do_not_cut_a_backoff_short(tmp_path: Path) -> None:
    """The retry storm of issue 11: with the Loop down, images arriving every 20 ms must not each trigger an
    attempt; the outbox waits out its backoff (here 0.5..1 s per attempt, the cap): over 2.5 virtual seconds and
    125 images, 3 to 6 attempts, never two within half a second."""
    clock = VirtualClock()
    loop = FakeLoop(lambda ids: httpx.Response(503), clock)
    outbox, _ = make_outbox(tmp_path, loop, clock, outbox_backoff_cap=1.0)  # the backoff starts at 1 s
    outbox.start()
    for _ in range(125):
        outbox.put(JPEG, {})
        await clock.advance(0.02)
    await outbox.close()
    assert outbox.depth() == 125
    assert within_backoff(gaps(loop.at), 1.0, 1.0) and 3 <= len(loop.requests) <= 6, gaps(loop.at)


async def test_after_a_failure_requests_start_small_again(tmp_path: Path) -> None:
    answers = [200, 200, 503, 200, 200, 200]
    loop = FakeLoop(lambda ids: httpx.Response(answers.pop(0) if answers else 200))
    outbox, _ = make_outbox(tmp_path, loop, outbox_batch_size=4)
    ids = [outbox.put(JPEG, {}) for _ in range(16)]
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert [len(r) for r in loop.requests] == [1, 2, 4, 1, 2, 4, 4, 2]
    assert sorted(loop.received) == sorted(map(wire, ids))


async def test_a_crash_mid_upload_is_journalled_and_counted_after_the_restart(tmp_path: Path) -> None:
    outbox, _ = make_outbox(tmp_path, FakeLoop(), outbox_batch_size=3)
    ids = [outbox.put(JPEG, {}) for _ in range(5)]
    sent = outbox.store.next_batch(3)  # what the delivery task does just before its request leaves
    assert [i.id for i in sent] == ids[:3]
    # kill -9 here: the Loop may or may not have stored these three
    loop = FakeLoop()
    restarted, metrics = make_outbox(tmp_path, loop)
    assert restarted.store.interrupted == ids[:3]
    assert metric(metrics, "loop_detector_outbox_interrupted_total") == 3
    restarted.start()
    await wait_for(lambda: restarted.depth() == 0 and not (tmp_path / "outbox" / "inflight.json").exists())
    await restarted.close()
    assert sorted(loop.received) == sorted(map(wire, ids))


def test_items_travel_under_the_reference_identifier_unique_per_item(tmp_path: Path) -> None:
    outbox, _ = make_outbox(tmp_path, FakeLoop())
    ids = [outbox.put(JPEG, {}) for _ in range(300)]
    assert len(set(ids)) == 300 and ids == sorted(ids)  # unique and in creation order
    parts = outbox.store.read([Item(ids[0], False, 0)])
    [(_, (json_name, _, _)), (_, (jpg_name, _, _))] = parts
    assert re.fullmatch(r"image_\d{4}-\d\d-\d\d_\d\d%3A\d\d%3A\d\d\.\d{6}\.json", json_name), json_name
    assert jpg_name == json_name[:-len("json")] + "jpg"
    assert ":" not in ids[0]  # on disk without colons


async def test_the_outbox_task_survives_any_exception(tmp_path: Path) -> None:
    """A Loop behind a resetting proxy made the HTTP stack raise AttributeError, which ended the task for good.
    Here the first read of the items crashes the task itself, then the first request dies of that AttributeError."""
    transport_errors = [AttributeError("'NoneType' object has no attribute 'getpeername'")]

    def policy(ids: list[str]) -> httpx.Response:
        if transport_errors:
            raise transport_errors.pop()
        return httpx.Response(200)

    loop = FakeLoop(policy)
    outbox, metrics = make_outbox(tmp_path, loop)
    ids = [outbox.put(JPEG, {}) for _ in range(3)]
    original_read, crashes = outbox.store.read, [RuntimeError("disk hiccup")]

    def read_once_crashing(items: list[Item]) -> list:
        if crashes:
            raise crashes.pop()
        return original_read(items)

    outbox.store.read = read_once_crashing  # type: ignore[method-assign]
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0, timeout=15)
    await outbox.close()
    assert sorted(loop.received) == sorted(map(wire, ids))
    assert metric(metrics, "loop_detector_task_failures_total", task="outbox", kind="crash") == 1
    assert metric(metrics, "loop_detector_task_failures_total", task="outbox", kind="error") == 1
    assert loop.requests[0] == [wire(ids[0])] and outbox.health.failing() == {}


async def test_metered_mode_sends_priority_images_only_and_the_backlog_says_what_waits(tmp_path: Path) -> None:
    from loop_shared.schemas import OutboxMode
    loop = FakeLoop()
    outbox, metrics = make_outbox(tmp_path, loop)
    outbox.start()
    await outbox.set_mode(OutboxMode.METERED)
    normal = [outbox.put(JPEG, {}) for _ in range(3)]
    urgent = [outbox.put(JPEG, {}, priority=True) for _ in range(2)]
    await wait_for(lambda: outbox.backlog()["priority_items"] == 0)
    await asyncio.sleep(0.3)
    assert sorted(loop.received) == sorted(map(wire, urgent))
    backlog = outbox.backlog()
    assert (backlog["mode"], backlog["normal_items"], backlog["drain_seconds"]) == ("metered", 3, None)
    assert "loop_detector_outbox_drain_seconds NaN" in metrics.render().decode()
    await outbox.set_mode(OutboxMode.CONTINUOUS_UPLOAD)
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert sorted(loop.received) == sorted(map(wire, urgent + normal))
    assert outbox.backlog()["drain_seconds"] == 0.0 and outbox.backlog()["delivery_rate"] is not None
