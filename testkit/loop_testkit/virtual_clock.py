"""A clock that moves only when the test moves it, for components that take a `loop_shared.clock.Clock`.

Backoff, Retry-After and rate promises are tested against it: the test counts what the component did per virtual
second, so neither a busy machine (slow real seconds) nor an idle one (fast ones) changes the verdict.

Time moves in `advance` and `run`, and only while every task that waits is waiting on this clock: before time
moves on, the clock lets the event loop run until someone sleeps on it again (`settle`). Work the component does
in threads or in the event loop between its waits therefore takes no virtual time at all.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

SETTLE_TIMEOUT = 60.0  # real seconds a settle waits for someone to sleep on the clock (a hang or a hot loop)
MAX_WAKES = 1000  # sleepers woken in one advance or run: more means a loop whose waits add up to nothing
_sequence = itertools.count()


@dataclass(order=True)
class _Sleeper:
    deadline: float
    order: int
    future: asyncio.Future[None] = field(compare=False)


class VirtualClock:
    """Implements `loop_shared.clock.Clock`. `slept` lists every sleep asked for, in seconds, in order."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._sleepers: list[_Sleeper] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # even sleep(0) waits for the test to move the clock: a retry without a wait shows as two attempts at the
        # same virtual moment instead of spinning
        self.slept.append(seconds)
        sleeper = _Sleeper(self.now + max(0.0, seconds), next(_sequence), asyncio.get_running_loop().create_future())
        self._sleepers.append(sleeper)
        try:
            await sleeper.future
        finally:
            self._sleepers.remove(sleeper)

    @property
    def sleeping(self) -> int:
        """How many sleeps are under way."""
        return sum(not s.future.done() for s in self._sleepers)

    async def settle(self, done: Callable[[], bool] = lambda: False) -> None:
        """Let the event loop (and the threads it waits for) run until someone sleeps on this clock, or `done()`.

        Fails after SETTLE_TIMEOUT real seconds: the component neither waits on the clock nor finishes.
        """
        for _ in range(20):  # callbacks already due (an event just set, a cancelled sleep) run first
            await asyncio.sleep(0)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not (self.sleeping or done()):
            assert time.monotonic() < deadline, \
                f"nothing slept on the virtual clock for {SETTLE_TIMEOUT:.0f} s: a hang, or a loop that never waits"
            await asyncio.sleep(0.001)

    def _wake_due(self, wakes: int) -> int:
        """Wake the sleepers whose deadline has come; returns `wakes` plus how many that were."""
        for sleeper in sorted(self._sleepers):
            if sleeper.deadline <= self.now and not sleeper.future.done():
                sleeper.future.set_result(None)
                wakes += 1
        assert wakes <= MAX_WAKES, f"{wakes} sleeps ended by virtual {self.now}: a loop that does not really wait"
        return wakes

    async def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`; each sleeper wakes at its own deadline, in order, and runs until it
        sleeps again before the clock moves further."""
        target, wakes = self.now + seconds, 0
        while True:
            await self.settle()
            due = [s.deadline for s in self._sleepers if not s.future.done()]
            if not due or min(due) > target:
                break
            self.now = max(self.now, min(due))
            wakes = self._wake_due(wakes)
        self.now = target

    async def run(self, awaitable: Awaitable[T], limit: float = 86400.0) -> T:
        """Await `awaitable`, moving the clock to the next deadline whenever everything waits on it; at most
        `limit` virtual seconds."""
        task = asyncio.ensure_future(awaitable)
        end, wakes = self.now + limit, 0
        while True:
            await self.settle(task.done)
            if task.done():
                return task.result()
            due = min(s.deadline for s in self._sleepers if not s.future.done())
            assert due <= end, f"still not done after {limit} virtual seconds"
            self.now = max(self.now, due)
            wakes = self._wake_due(wakes)


def gaps(moments: list[float]) -> list[float]:
    """The time between each moment and the next."""
    return [later - earlier for earlier, later in itertools.pairwise(moments)]


def within_backoff(waits: list[float], base: float, cap: float) -> bool:
    """Whether the n-th wait lies within [d/2, d] for d = base * 2**n capped at `cap`: the shape of
    `loop_shared.backoff.Backoff` (doubling, capped, half-jitter)."""
    return all(min(cap, base * 2**n) / 2 <= wait <= min(cap, base * 2**n) for n, wait in enumerate(waits))
