"""Supervised background tasks: any exception is logged, counted and followed by a restart after a backoff."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from loop_shared.backoff import Backoff
from loop_shared.tasks import TaskHealth, spawn


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_crashing_task_is_restarted_and_its_crashes_counted(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    health = TaskHealth(registry, "node")
    runs: list[int] = []

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) <= 3:
            raise AttributeError("'NoneType' object has no attribute 'getpeername'")
        health.ok("worker")

    with caplog.at_level(logging.ERROR, "loop.tasks"):
        task = spawn("worker", body, health, Backoff(base=0.01, cap=0.02))
        await asyncio.wait_for(task, timeout=5)
    assert runs == [0, 1, 2, 3]
    assert value(registry, "node_task_failures_total", task="worker", kind="crash") == 3
    assert value(registry, "node_task_failing", task="worker") == 0  # healthy again after the fourth run
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 3 and crashes[0].exc_info is not None and crashes[1].exc_info is None


async def test_a_task_that_keeps_failing_is_reported_until_it_recovers() -> None:
    registry = CollectorRegistry()
    health = TaskHealth(registry, "node", failing_after=3)
    health.register("outbox")
    for _ in range(2):
        health.failed("outbox", ConnectionError("refused"))
    assert health.failing() == {}
    health.failed("outbox", ConnectionError("refused"))
    assert health.failing() == {"outbox": "ConnectionError: refused"}
    assert value(registry, "node_task_failing", task="outbox") == 1
    assert value(registry, "node_task_failures_total", task="outbox", kind="error") == 3
    health.ok("outbox")
    assert health.failing() == {} and value(registry, "node_task_failing", task="outbox") == 0


async def test_cancelling_a_supervised_task_ends_it() -> None:
    health = TaskHealth(CollectorRegistry(), "node")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = spawn("forever", forever, health)
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert health.tasks["forever"].consecutive_failures == 0
