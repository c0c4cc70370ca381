"""Long-running tasks that survive any exception, and the health record that makes their trouble visible.

Every background loop of a node (outbox, deployment poll, status reports, training lifecycle, conversion scan,
Socket.IO supervision) runs under `supervise`: an exception that escapes it is logged with its traceback,
counted, and followed by a capped backoff, after which the loop starts again. The loops also report each
iteration's outcome to `TaskHealth` (`ok` / `failed`), so `/ready` and `/metrics` can show a task that keeps
failing, whether it crashes or meets an expected error such as an unreachable Loop again and again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from .backoff import Backoff
from .clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("loop.tasks")
CRASH, ERROR = "crash", "error"


@dataclass
class TaskState:
    consecutive_failures: int = 0
    last_error: str | None = None
    last_failure: float | None = None
    last_success: float | None = None


class TaskHealth:
    """What each named task did last; a task counts as failing after `failing_after` failures in a row."""

    def __init__(self, registry: CollectorRegistry, prefix: str, failing_after: int = 3) -> None:
        self.failing_after = failing_after
        self.tasks: dict[str, TaskState] = {}
        self._failures = Counter(f"{prefix}_task_failures", "Failed iterations of background tasks (kind: crash "
                                 "= unexpected exception, error = expected, e.g. the Loop unreachable)",
                                 ["task", "kind"], registry=registry)
        self._failing = Gauge(f"{prefix}_task_failing", "1 while a background task keeps failing", ["task"],
                              registry=registry)
        self._last_success = Gauge(f"{prefix}_task_last_success_timestamp_seconds", "When a background task last "
                                   "completed an iteration", ["task"], registry=registry)

    def register(self, name: str) -> None:
        self.tasks.setdefault(name, TaskState())
        self._failing.labels(task=name).set(0)

    def ok(self, name: str) -> None:
        state = self.tasks.setdefault(name, TaskState())
        state.consecutive_failures, state.last_success = 0, time.time()
        self._failing.labels(task=name).set(0)
        self._last_success.labels(task=name).set(state.last_success)

    def failed(self, name: str, error: BaseException | str, kind: str = ERROR) -> None:
        state = self.tasks.setdefault(name, TaskState())
        state.consecutive_failures += 1
        state.last_failure = time.time()
        state.last_error = error if isinstance(error, str) else one_line(error)
        self._failures.labels(task=name, kind=kind).inc()
        self._failing.labels(task=name).set(int(state.consecutive_failures >= self.failing_after))

    def failing(self) -> dict[str, str]:
        """Tasks that keep failing, with their last error."""
        return {name: state.last_error or "?" for name, state in self.tasks.items()
                if state.consecutive_failures >= self.failing_after}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: {"consecutive_failures": s.consecutive_failures, "last_error": s.last_error,
                       "last_failure": s.last_failure, "last_success": s.last_success}
                for name, s in self.tasks.items()}


def one_line(error: BaseException) -> str:
    """`Type: message` on one line, short enough for a status report."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


async def supervise(name: str, body: Callable[[], Awaitable[None]], health: TaskHealth,
                    backoff: Backoff | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run `body()` until it returns; after any exception log it, count it, back off (on `clock`) and run it again.

    Cancellation (node shutdown) ends the task as usual. The first crash of a streak is logged with its
    traceback, the ones after it on one line, so a task that keeps crashing does not flood the log.
    """
    backoff = backoff or Backoff(base=1.0, cap=60.0)
    health.register(name)
    while True:
        try:
            await body()
            return
        except Exception as e:  # the point of a supervisor: nothing may end the task silently
            delay = backoff.next_delay()
            streak = health.tasks[name].consecutive_failures
            health.failed(name, e, CRASH)
            log.error("task %s crashed (%s); restarting it in %.1f s", name, one_line(e), delay,
                      exc_info=e if streak == 0 else None)
            await clock.sleep(delay)


def spawn(name: str, body: Callable[[], Awaitable[None]], health: TaskHealth,
          backoff: Backoff | None = None, clock: Clock = SYSTEM_CLOCK) -> asyncio.Task[None]:
    return asyncio.create_task(supervise(name, body, health, backoff, clock), name=name)
