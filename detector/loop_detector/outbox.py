"""The durable outbox: images accepted for the Loop's inbox, kept on disk until the Loop has them.

Storage is `outbox_store.OutboxStore` (atomic, fsynced, recovered after a crash). Items are deleted only after
the Loop answered 2xx. Delivery is at least once: a crash while a request is under way sends its items again
after the restart (the journal counts them); nothing accepted is ever lost.

Delivery: one supervised task sends batches, priority items first, oldest first. Loop down, 5xx or 429: wait with
capped exponential backoff and jitter (429 honours Retry-After); new images do NOT cut that wait short, so an
outage costs the Loop one attempt per backoff period, however fast images arrive. After a start and after every
failure, requests begin with one image and double with each success up to `LOOP_OUTBOX_BATCH_SIZE` (a slow
start): a node that crashes again and again re-sends at most one image per crash. 422 or 413: the batch is split
in halves until the bad item is alone; that item is moved to `outbox/quarantine/` (kept, counted) and the rest
is delivered. A disk budget (items and bytes) is enforced by dropping the oldest normal items, logged and counted.

Modes: `continuous_upload`, `stopped` (nothing goes), and `metered` (only priority items go, for a metered link;
normal items wait). `backlog()` says how much waits and, from the recent delivery rate, how long it would take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path
from typing import Any

from loop_shared.backoff import Backoff
from loop_shared.clock import SYSTEM_CLOCK, Clock, wait_event
from loop_shared.errors import LoopInvalidError, LoopRateLimitedError, LoopResponseError, LoopUnavailableError
from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.schemas import OutboxMode
from loop_shared.tasks import TaskHealth, spawn

from .metrics import DetectorMetrics
from .outbox_store import Item, OutboxStore
from .settings import DetectorSettings

log = logging.getLogger("detector.outbox")
TASK = "outbox"
IN_FLIGHT_GRACE = 10.0  # at a stop, how long the answer to the upload under way is awaited


class Outbox:
    """Every wait of the delivery (backoff, idle, drain) and the delivery rate are on `clock`."""

    def __init__(self, root: Path, settings: DetectorSettings, client: LoopClient, metrics: DetectorMetrics,
                 health: TaskHealth | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = OutboxStore(root, settings.outbox_max_items, settings.outbox_max_mb * 2**20, metrics)
        self.batch_size = settings.outbox_batch_size
        self.window = 1  # images in the next request: grows after successes, back to 1 after a failure
        self.backoff = Backoff(base=1.0, cap=settings.outbox_backoff_cap)
        self.client, self.metrics, self.clock = client, metrics, clock
        self.health = health or TaskHealth(metrics.registry, "loop_detector")
        self.api = LoopApi(client).project(settings.organization, settings.project)
        self._mode = OutboxMode.CONTINUOUS_UPLOAD
        self._delivered: deque[tuple[float, int]] = deque(maxlen=50)  # (when, images) of recent deliveries
        self._running = asyncio.Event()
        self._wakeup = asyncio.Event()  # new items while idle
        self._mode_changed = asyncio.Event()  # the only thing that ends a backoff early
        self._idle = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        metrics.outbox_drain.set_function(lambda: self.backlog()["drain_seconds"] or float("nan"))

    def depth(self) -> int:
        return self.store.depth()

    def put(self, jpeg: bytes, metadata: dict[str, Any], priority: bool = False, drop_when_full: bool = True) -> str:
        """Persist one image atomically and queue it; returns its id. Thread-safe, blocking (disk)."""
        item_id = self.store.put(jpeg, metadata, priority, drop_when_full)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        return item_id

    @property
    def mode(self) -> OutboxMode:
        return self._mode

    def backlog(self) -> dict[str, Any]:
        """What waits, how fast the Loop took images lately, and how long the wait would take at that rate (None
        while nothing goes out, e.g. stopped, metered or the Loop away)."""
        store = self.store
        now = self.clock.monotonic()
        recent = [(t, n) for t, n in self._delivered if now - t <= 300]
        rate = sum(n for _, n in recent) / max(1.0, now - recent[0][0]) if len(recent) > 1 else None
        waiting = store.depth()
        held = self._sendable() < waiting  # stopped, or metered with normal items waiting
        task = self.health.tasks.get(TASK)
        sending = not held and (task is None or task.consecutive_failures == 0)
        eta = 0.0 if waiting == 0 else round(waiting / rate, 1) if rate and sending else None
        return {"mode": self._mode.value, "priority_items": len(store.queues[True]),
                "normal_items": len(store.queues[False]), "bytes": store.bytes,
                "delivery_rate": round(rate, 2) if rate else None, "drain_seconds": eta}

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running.set()
        self._idle.set()
        self._task = spawn(TASK, self._run, self.health)

    async def set_mode(self, mode: OutboxMode) -> None:
        """Switching to stopped or metered returns once the batch in flight (if any) has been answered."""
        self._mode = mode
        if mode == OutboxMode.STOPPED:
            self._running.clear()
        else:
            self._running.set()
        self._wakeup.set()
        self._mode_changed.set()
        if mode != OutboxMode.CONTINUOUS_UPLOAD:
            await self._idle.wait()

    def _priority_only(self) -> bool:
        """Metered: only priority items go out."""
        return self._mode == OutboxMode.METERED

    def _sendable(self) -> int:
        """Items the current mode lets go out."""
        if self._mode == OutboxMode.STOPPED:
            return 0
        return len(self.store.queues[True]) if self._priority_only() else self.store.depth()

    async def close(self, drain_seconds: float = 0.0) -> None:
        """Stop delivering. With `drain_seconds`, first keep delivering for up to that long what the mode lets go
        out, unless the Loop fails meanwhile (a pod or container that is removed takes its disk with it; what is
        left stays on disk for the next start). Then the request in flight, if any, is answered before the task
        ends (up to IN_FLIGHT_GRACE seconds): cut off, its images would reach the Loop twice."""
        task = self._task
        if task is None or task.done():
            return
        if drain_seconds > 0 and self._sendable():
            await self._drain(drain_seconds)
        self._closing = True
        for event in (self._running, self._wakeup, self._mode_changed):
            event.set()  # whatever the task waits for ends now; it returns before it takes another batch
        in_flight = not self._idle.is_set()
        try:  # without a request in flight the task ends at once (unless it is restarting after a crash)
            await asyncio.wait_for(asyncio.shield(task), timeout=IN_FLIGHT_GRACE if in_flight else 1.0)
        except TimeoutError:
            if in_flight:
                log.warning("shutdown: the Loop did not answer the upload in flight within %.0f s; its images are "
                            "sent again after the next start", IN_FLIGHT_GRACE)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain(self, seconds: float) -> None:
        waiting, started = self._sendable(), self.clock.monotonic()
        log.info("shutdown: delivering the %d waiting images first (at most %.0f s)", waiting, seconds)
        state = self.health.tasks.get(TASK)
        failures = state.consecutive_failures if state else 0
        self._mode_changed.set()  # a backoff under way ends now: one more attempt
        ended = "the drain time ran out"
        while self._sendable():
            state = self.health.tasks.get(TASK)
            if state is not None and state.consecutive_failures > failures:
                ended = "the Loop failed again"  # no use waiting out a backoff
                break
            if self.clock.monotonic() - started >= seconds:
                break
            await self.clock.sleep(0.05)
        left = self._sendable()
        log.log(logging.WARNING if left else logging.INFO, "shutdown: %d of %d waiting images delivered in %.1f s%s",
                waiting - left, waiting, self.clock.monotonic() - started,
                f" ({ended}); {left} stay on disk for the next start" if left else "")

    async def _run(self) -> None:
        while True:  # ends when closing: checked after every wait and before the next batch
            await self._running.wait()
            self._wakeup.clear()
            if self._closing:
                return
            batch = await asyncio.to_thread(self.store.next_batch, self.window, self._priority_only())
            if not batch:
                await wait_event(self._wakeup, 5.0, self.clock)
                continue
            self._idle.clear()
            answered = False
            try:
                delay = await self._deliver(batch)
                answered = True
            finally:  # cut off (a shutdown past the grace, a crash): the Loop may hold the batch, the journal stays
                if answered:
                    await asyncio.to_thread(self.store.done_sending)
                else:
                    self.store.done_sending(keep_journal=True)
                self._idle.set()
            if delay is None:
                self.backoff.reset()
                self.window = min(self.batch_size, self.window * 2)
                self.health.ok(TASK)
                continue
            self.window = 1
            if self._closing:
                return
            self._mode_changed.clear()
            await wait_event(self._mode_changed, delay, self.clock)

    async def _deliver(self, batch: list[Item]) -> float | None:
        """Send a batch; returns None when done with it, or how long to wait before trying again."""
        try:
            files = await asyncio.to_thread(self.store.read, batch)
        except FileNotFoundError as e:
            log.error("outbox file vanished (%s); dropping the item", e)
            vanished = [i for i in batch if not all(f.exists() for f in self.store.files(i))]
            self.metrics.dropped.labels(reason="corrupt").inc(len(vanished))
            await asyncio.to_thread(self.store.remove, vanished)
            return None
        try:
            await self.api.upload_images(files, timeout=120.0)
        except LoopRateLimitedError as e:
            self.metrics.upload_failures.labels(reason="429").inc()
            return self._failed(f"Loop answered 429 ({e})", e.retry_after)
        except LoopUnavailableError as e:
            self.metrics.upload_failures.labels(reason=str(e.status_code or "unreachable")).inc()
            return self._failed(f"Loop unreachable ({e})")
        except LoopInvalidError as e:  # some item of the batch is refused: find it by halves
            if len(batch) == 1:
                await asyncio.to_thread(self.store.remove, batch, True)
                self.metrics.quarantined.inc()
                log.error("the Loop refused image %s (%s); kept in %s", batch[0].id, e, self.store.quarantine_dir)
                return None
            half = len(batch) // 2
            for part in (batch[:half], batch[half:]):
                wait = await self._deliver(part)
                if wait is not None:
                    return wait
            return None
        except LoopResponseError as e:
            self.metrics.upload_failures.labels(reason=str(e.status_code)).inc()
            return self._failed(f"Loop answered {e}")
        await asyncio.to_thread(self.store.remove, batch)
        self.metrics.uploaded.inc(len(batch))
        self._delivered.append((self.clock.monotonic(), len(batch)))
        log.debug("outbox delivered %d images", len(batch))
        return None

    def _failed(self, reason: str, retry_after: float | None = None) -> float:
        delay = self.backoff.next_delay()
        if retry_after is not None:  # the Loop said how long: that, not our guess
            delay = retry_after
        self.health.failed(TASK, reason)
        log.warning("outbox: %s; %d images wait, retry in %.1f s", reason, self.depth(), delay)
        return delay
