"""The clock that retry loops and backoffs read and wait on.

Production code uses `SYSTEM_CLOCK` (time.monotonic and asyncio.sleep). A component whose promise is about time
(a backoff, Retry-After, a rate) takes a `Clock` argument instead of calling those directly, so that its tests can
hand it a clock they move themselves (`loop_testkit.virtual_clock.VirtualClock`) and count what it does per virtual
second, independent of how busy the machine is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds since an arbitrary point; only differences mean something."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


async def wait_event(event: asyncio.Event, timeout: float, clock: Clock) -> bool:
    """Wait until `event` is set or `timeout` seconds of `clock` have passed; True when the event was set.

    `asyncio.wait_for(event.wait(), timeout)` with the timeout counted on `clock` rather than the event loop's.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        timer.cancel()
    return event.is_set()
