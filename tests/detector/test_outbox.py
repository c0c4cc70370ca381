"""The outbox against a scripted Loop: durability, budget, backoff, bisection of refused batches."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loop_detector.errors import OutboxFullError
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import Outbox
from loop_detector.settings import DetectorSettings
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.settings import load_settings

JPEG = b"\xff\xd8" + b"j" * 100


class FakeLoop:
    """Accepts multipart uploads; answers from a policy function per batch of image ids."""

    def __init__(self, policy: Callable[[list[str]], httpx.Response] | None = None) -> None:
        self.policy = policy or (lambda ids: httpx.Response(200, json={}))
        self.received: list[str] = []
        self.requests: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content.decode(errors="replace")
        ids = sorted({part.split('filename="image_')[1].split(".")[0] for part in body.split("\r\n")
                      if 'filename="image_' in part})
        self.requests.append(ids)
        response = self.policy(ids)
        if response.status_code == 200:
            self.received.extend(ids)
        return response


def make_outbox(tmp_path: Path, loop: FakeLoop, **overrides: object) -> tuple[Outbox, DetectorMetrics]:
    settings = load_settings(DetectorSettings, organization="o", project="p", host="loop.test",
                             outbox_backoff_cap=0.2, **overrides)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.MockTransport(loop))
    metrics = DetectorMetrics()
    return Outbox(tmp_path / "outbox", settings, client, metrics), metrics


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
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
    assert sorted(loop.received) == sorted(ids)


async def test_priority_first_then_oldest(tmp_path: Path) -> None:
    loop = FakeLoop()
    outbox, _ = make_outbox(tmp_path, loop, outbox_batch_size=2)
    normal = [outbox.put(JPEG, {}) for _ in range(3)]
    urgent = outbox.put(JPEG, {}, priority=True)
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert loop.requests == [sorted([urgent, normal[0]]), sorted(normal[1:])]


async def test_refused_item_is_quarantined_and_the_rest_delivered(tmp_path: Path) -> None:
    bad: list[str] = []

    def policy(ids: list[str]) -> httpx.Response:
        return httpx.Response(422, json={"detail": "broken"}) if bad[0] in ids else httpx.Response(200)

    loop = FakeLoop(policy)
    outbox, metrics = make_outbox(tmp_path, loop, outbox_batch_size=8)
    ids = [outbox.put(JPEG, {}) for _ in range(8)]
    bad.append(ids[5])
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert sorted(loop.received) == sorted(set(ids) - {ids[5]})
    assert (tmp_path / "outbox" / "quarantine" / f"{ids[5]}.jpg").exists()
    assert metric(metrics, "loop_detector_outbox_quarantined_total") == 1


async def test_loop_down_backs_off_then_delivers_everything(tmp_path: Path) -> None:
    state = {"down": True}

    def policy(ids: list[str]) -> httpx.Response:
        return httpx.Response(503) if state["down"] else httpx.Response(200)

    loop = FakeLoop(policy)
    outbox, metrics = make_outbox(tmp_path, loop)
    ids = [outbox.put(JPEG, {}) for _ in range(5)]
    outbox.start()
    await asyncio.sleep(1.0)
    attempts_while_down = len(loop.requests)
    assert 2 <= attempts_while_down <= 20  # backoff: retried, but no hot loop
    assert outbox.depth() == 5
    state["down"] = False
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert sorted(loop.received) == sorted(ids)
    assert metric(metrics, "loop_detector_outbox_upload_failures_total", reason="503") == attempts_while_down


async def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    answers = [httpx.Response(429, headers={"retry-after": "0.6"}), httpx.Response(200)]
    loop = FakeLoop(lambda ids: answers.pop(0) if len(answers) > 1 else answers[0])
    outbox, _ = make_outbox(tmp_path, loop)
    outbox.put(JPEG, {})
    started = time.monotonic()
    outbox.start()
    await wait_for(lambda: outbox.depth() == 0)
    await outbox.close()
    assert time.monotonic() - started >= 0.6


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
