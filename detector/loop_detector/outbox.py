"""The durable outbox: images accepted for the Loop's inbox, kept on disk until the Loop has them.

An item is a JPEG and its metadata JSON in `outbox/{priority,normal}/`. Both are written and fsynced in
`outbox/tmp/`, then renamed into place, the JSON last, so an item exists exactly when its JSON does (`kill -9` or
a power cut at any moment leaves either a whole item or nothing). Items are deleted only after the Loop answered
2xx; their ids are stable, so a batch re-sent after a crash is recognised by the Loop instead of stored twice.

Delivery: one task sends batches, priority items first, oldest first. Loop down, 5xx or 429: wait with capped
exponential backoff and jitter (429 honours Retry-After). 422 or 413: the batch is split in halves until the
bad item is alone; that item is moved to `outbox/quarantine/` (kept, counted) and the rest is delivered.
A disk budget (items and bytes) is enforced by dropping the oldest normal items, each drop logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loop_shared.backoff import Backoff, retry_after_seconds
from loop_shared.errors import LoopUnavailableError
from loop_shared.loop_client import LoopClient
from loop_shared.schemas import OutboxMode

from .errors import OutboxFullError
from .metrics import DetectorMetrics
from .settings import DetectorSettings

log = logging.getLogger("detector.outbox")
WIRE_EXCLUDE = {"image_size", "model_version"}  # our additions to ImageMetadata stay off the wire


@dataclass
class Item:
    id: str
    priority: bool
    size: int


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_directory(directory: Path) -> None:
    """Make the renames into `directory` survive a power cut, not only a killed process."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_item_id() -> str:
    """Sortable by creation time, unique, and safe in file names and multipart headers."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


class Outbox:
    def __init__(self, root: Path, settings: DetectorSettings, client: LoopClient, metrics: DetectorMetrics) -> None:
        self.root = root
        self.dirs = {True: root / "priority", False: root / "normal"}
        self.quarantine_dir, self.tmp_dir = root / "quarantine", root / "tmp"
        self.max_items, self.max_bytes = settings.outbox_max_items, settings.outbox_max_mb * 2**20
        self.batch_size = settings.outbox_batch_size
        self.backoff = Backoff(base=1.0, cap=settings.outbox_backoff_cap)
        self.client, self.metrics = client, metrics
        self.path = f"/{settings.organization}/projects/{settings.project}/images"
        self._queues: dict[bool, deque[Item]] = {True: deque(), False: deque()}
        self._bytes = 0
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._running = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._recover()

    # disk ----------------------------------------------------------------------------------------------------
    def _recover(self) -> None:
        for d in (*self.dirs.values(), self.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir()
        for priority, d in self.dirs.items():
            for meta in sorted(d.glob("*.json")):
                jpg = meta.with_suffix(".jpg")
                if not jpg.exists():
                    log.error("outbox item %s has no image; dropping it", meta.stem)
                    meta.unlink()
                    self.metrics.dropped.labels(reason="corrupt").inc()
                    continue
                size = meta.stat().st_size + jpg.stat().st_size
                self._queues[priority].append(Item(meta.stem, priority, size))
                self._bytes += size
            for jpg in d.glob("*.jpg"):
                if not jpg.with_suffix(".json").exists():
                    jpg.unlink()  # staged image whose metadata never landed: the item was never accepted
        self._update_gauges()
        if self.depth():
            log.info("outbox holds %d images from before the restart", self.depth())

    def _files(self, item: Item) -> tuple[Path, Path]:
        d = self.dirs[item.priority]
        return d / f"{item.id}.jpg", d / f"{item.id}.json"

    def depth(self) -> int:
        return len(self._queues[True]) + len(self._queues[False])

    def _update_gauges(self) -> None:
        self.metrics.outbox_items.labels(queue="priority").set(len(self._queues[True]))
        self.metrics.outbox_items.labels(queue="normal").set(len(self._queues[False]))
        self.metrics.outbox_bytes.set(self._bytes)

    def put(self, jpeg: bytes, metadata: dict[str, Any], priority: bool = False, drop_when_full: bool = True) -> str:
        """Persist one image atomically and queue it; returns its id. Thread-safe, blocking (disk)."""
        item_id = new_item_id()
        body = json.dumps({k: v for k, v in metadata.items() if k not in WIRE_EXCLUDE}).encode()
        item = Item(item_id, priority, len(jpeg) + len(body))
        with self._lock:
            self._make_room(item, drop_when_full)
        staged_jpg, staged_json = self.tmp_dir / f"{item_id}.jpg", self.tmp_dir / f"{item_id}.json"
        _write_durably(staged_jpg, jpeg)
        _write_durably(staged_json, body)
        final_jpg, final_json = self._files(item)
        os.replace(staged_jpg, final_jpg)
        os.replace(staged_json, final_json)  # the item exists from here on
        _sync_directory(final_json.parent)
        with self._lock:
            self._queues[priority].append(item)
            self._bytes += item.size
            self._update_gauges()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        return item_id

    def _make_room(self, item: Item, drop_when_full: bool) -> None:
        normal = self._queues[False]
        while self.depth() + 1 > self.max_items or self._bytes + item.size > self.max_bytes:
            victim = next((i for i in normal if i.id not in self._in_flight), None)
            if victim is None:
                if drop_when_full and not item.priority:
                    self.metrics.dropped.labels(reason="budget").inc()
                    log.warning("outbox budget used up by priority images; dropped new image %s", item.id)
                raise OutboxFullError(f"the outbox is full ({self.depth()} images, {self._bytes} bytes) and "
                                      "holds nothing that may be dropped")
            normal.remove(victim)
            self._bytes -= victim.size
            for f in self._files(victim):
                f.unlink(missing_ok=True)
            self.metrics.dropped.labels(reason="budget").inc()
            log.warning("outbox over its budget (%d images / %d MiB); dropped oldest image %s",
                        self.max_items, self.max_bytes // 2**20, victim.id)

    def _remove(self, items: list[Item], quarantine: bool = False) -> None:
        with self._lock:
            for item in items:
                queue = self._queues[item.priority]
                if item in queue:
                    queue.remove(item)
                    self._bytes -= item.size
                for f in self._files(item):
                    if quarantine and f.exists():
                        os.replace(f, self.quarantine_dir / f.name)
                    else:
                        f.unlink(missing_ok=True)
            self._update_gauges()

    def _read(self, items: list[Item]) -> list[tuple[str, tuple[str, bytes, str]]]:
        files = []
        for item in items:
            jpg, meta = self._files(item)
            files.append(("files", (f"image_{item.id}.json", meta.read_bytes(), "application/json")))
            files.append(("files", (f"image_{item.id}.jpg", jpg.read_bytes(), "image/jpeg")))
        return files

    # delivery ------------------------------------------------------------------------------------------------
    @property
    def mode(self) -> OutboxMode:
        return OutboxMode.CONTINUOUS_UPLOAD if self._running.is_set() else OutboxMode.STOPPED

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running.set()
        self._idle.set()
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def set_mode(self, mode: OutboxMode) -> None:
        """Switching to stopped returns once the batch in flight (if any) has been answered."""
        if mode == OutboxMode.CONTINUOUS_UPLOAD:
            self._running.set()
            self._wakeup.set()
        else:
            self._running.clear()
            self._wakeup.set()
            await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _next_batch(self) -> list[Item]:
        with self._lock:
            batch = [*self._queues[True], *self._queues[False]][: self.batch_size]
            self._in_flight = {i.id for i in batch}
            return batch

    async def _run(self) -> None:
        while True:
            await self._running.wait()
            batch = self._next_batch()
            if not batch:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=5.0)
                continue
            self._idle.clear()
            try:
                delay = await self._deliver(batch)
            finally:
                self._in_flight = set()
                self._idle.set()
            if delay is None:
                self.backoff.reset()
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _deliver(self, batch: list[Item]) -> float | None:
        """Send a batch; returns None when done with it, or how long to wait before trying again."""
        try:
            files = await asyncio.to_thread(self._read, batch)
        except FileNotFoundError as e:
            log.error("outbox file vanished (%s); dropping the item", e)
            vanished = [i for i in batch if not all(f.exists() for f in self._files(i))]
            self.metrics.dropped.labels(reason="corrupt").inc(len(vanished))
            await asyncio.to_thread(self._remove, vanished)
            return None
        try:
            response = await self.client.request("POST", self.path, files=files, requires_login=False, attempts=1,
                                                 timeout=120.0)
        except LoopUnavailableError as e:
            self.metrics.upload_failures.labels(reason=str(e.status_code or "unreachable")).inc()
            delay = self.backoff.next_delay()
            log.warning("outbox: Loop unreachable (%s); %d images wait, retry in %.1f s", e, self.depth(), delay)
            return delay
        status = response.status_code
        if 200 <= status < 300:
            await asyncio.to_thread(self._remove, batch)
            self.metrics.uploaded.inc(len(batch))
            log.debug("outbox delivered %d images", len(batch))
            return None
        if status in (413, 422):
            if len(batch) == 1:
                await asyncio.to_thread(self._remove, batch, True)
                self.metrics.quarantined.inc()
                log.error("the Loop refused image %s (HTTP %d: %s); kept in %s", batch[0].id, status,
                          response.text[:200], self.quarantine_dir)
                return None
            half = len(batch) // 2
            for part in (batch[:half], batch[half:]):
                wait = await self._deliver(part)
                if wait is not None:
                    return wait
            return None
        self.metrics.upload_failures.labels(reason=str(status)).inc()
        delay = self.backoff.next_delay()
        if status == 429:
            delay = retry_after_seconds(response.headers.get("retry-after"), delay)
        log.warning("outbox: Loop answered %d (%s); %d images wait, retry in %.1f s", status, response.text[:120],
                    self.depth(), delay)
        return delay
