"""The outbox's items on disk: written atomically and durably, recovered after a crash, budgeted.

An item is a JPEG and its metadata JSON in `outbox/{priority,normal}/`. Both are written and fsynced in
`outbox/tmp/`, then renamed into place, the JSON last, so an item exists exactly when its JSON does (`kill -9` or
a power cut at any moment leaves either a whole item or nothing).

Item ids follow the reference client's identifier, the creation time in microseconds
(`2026-11-24_03:01:58.305514`), made unique per outbox; on disk the time's colons are dashes, so the files can
live on any file system. `inflight.json` names the items of the upload request under way: after a crash they
are the ones the Loop may have received already (and will receive again).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loop_shared.model_package import remove_partial_writes, write_json_atomic

from .errors import OutboxFullError
from .metrics import DetectorMetrics

log = logging.getLogger("detector.outbox")
WIRE_EXCLUDE = {"image_size", "model_version"}  # our additions to ImageMetadata stay off the wire
_DISK_ID = re.compile(r"^(\d{4}-\d{2}-\d{2}_)(\d{2})-(\d{2})-(\d{2}\.\d{6})$")
_ID_FORMAT = "%Y-%m-%d_%H-%M-%S.%f"


@dataclass
class Item:
    id: str
    priority: bool
    size: int

    @property
    def identifier(self) -> str:
        """The reference's identifier on the wire (`2026-11-24_03:01:58.305514`); older ids are sent as they are."""
        match = _DISK_ID.match(self.id)
        return f"{match.group(1)}{match.group(2)}:{match.group(3)}:{match.group(4)}" if match else self.id

    def part_name(self, extension: str) -> str:
        """Multipart file name, percent-encoded as the reference client's HTTP library sends it."""
        return quote(f"image_{self.identifier}.{extension}")


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


class OutboxStore:
    """Items on disk and their queues; every method is thread-safe and blocking (call it off the event loop)."""

    def __init__(self, root: Path, max_items: int, max_bytes: int, metrics: DetectorMetrics) -> None:
        self.root, self.max_items, self.max_bytes, self.metrics = root, max_items, max_bytes, metrics
        self.dirs = {True: root / "priority", False: root / "normal"}
        self.quarantine_dir, self.tmp_dir = root / "quarantine", root / "tmp"
        self.journal = root / "inflight.json"
        self.queues: dict[bool, deque[Item]] = {True: deque(), False: deque()}
        self.bytes = 0
        self.in_flight: set[str] = set()
        self.interrupted: list[str] = []  # items of the request a crash interrupted (maybe delivered already)
        self._last_id: datetime | None = None
        self._lock = threading.Lock()
        self._recover()

    # recovery ------------------------------------------------------------------------------------------------
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
                self.queues[priority].append(Item(meta.stem, priority, size))
                self.bytes += size
            for jpg in d.glob("*.jpg"):
                if not jpg.with_suffix(".json").exists():
                    jpg.unlink()  # staged image whose metadata never landed: the item was never accepted
        remove_partial_writes(self.root, self.journal.name)
        try:
            waiting = {i.id for q in self.queues.values() for i in q}
            self.interrupted = [i for i in json.loads(self.journal.read_text()) if i in waiting]
        except (FileNotFoundError, ValueError, TypeError):
            self.interrupted = []
        self.journal.unlink(missing_ok=True)
        self._update_gauges()
        if self.depth():
            log.info("outbox holds %d images from before the restart", self.depth())
        if self.interrupted:
            log.warning("a crash interrupted the upload of %d images; the Loop may receive them twice",
                        len(self.interrupted))
            self.metrics.interrupted.inc(len(self.interrupted))

    # items ---------------------------------------------------------------------------------------------------
    def files(self, item: Item) -> tuple[Path, Path]:
        d = self.dirs[item.priority]
        return d / f"{item.id}.jpg", d / f"{item.id}.json"

    def depth(self) -> int:
        return len(self.queues[True]) + len(self.queues[False])

    def _update_gauges(self) -> None:
        self.metrics.outbox_items.labels(queue="priority").set(len(self.queues[True]))
        self.metrics.outbox_items.labels(queue="normal").set(len(self.queues[False]))
        self.metrics.outbox_bytes.set(self.bytes)

    def _new_id(self) -> str:
        """The creation time to the microsecond, moved on by 1 µs where it would repeat an id (same tick, clock
        set back, or an item of before a restart)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        if self._last_id is not None and now <= self._last_id:
            now = self._last_id + timedelta(microseconds=1)
        while any((d / f"{now.strftime(_ID_FORMAT)}.json").exists() for d in self.dirs.values()):
            now += timedelta(microseconds=1)
        self._last_id = now
        return now.strftime(_ID_FORMAT)

    def put(self, jpeg: bytes, metadata: dict[str, Any], priority: bool, drop_when_full: bool) -> str:
        body = json.dumps({k: v for k, v in metadata.items() if k not in WIRE_EXCLUDE}).encode()
        with self._lock:
            item = Item(self._new_id(), priority, len(jpeg) + len(body))
            self._make_room(item, drop_when_full)
        staged_jpg, staged_json = self.tmp_dir / f"{item.id}.jpg", self.tmp_dir / f"{item.id}.json"
        _write_durably(staged_jpg, jpeg)
        _write_durably(staged_json, body)
        final_jpg, final_json = self.files(item)
        os.replace(staged_jpg, final_jpg)
        os.replace(staged_json, final_json)  # the item exists from here on
        _sync_directory(final_json.parent)
        with self._lock:
            self.queues[priority].append(item)
            self.bytes += item.size
            self._update_gauges()
        return item.id

    def _make_room(self, item: Item, drop_when_full: bool) -> None:
        normal = self.queues[False]
        while self.depth() + 1 > self.max_items or self.bytes + item.size > self.max_bytes:
            victim = next((i for i in normal if i.id not in self.in_flight), None)
            if victim is None:
                if drop_when_full and not item.priority:
                    self.metrics.dropped.labels(reason="budget").inc()
                    log.warning("outbox budget used up by priority images; dropped new image %s", item.id)
                raise OutboxFullError(f"the outbox is full ({self.depth()} images, {self.bytes} bytes) and "
                                      "holds nothing that may be dropped")
            normal.remove(victim)
            self.bytes -= victim.size
            for f in self.files(victim):
                f.unlink(missing_ok=True)
            self.metrics.dropped.labels(reason="budget").inc()
            log.warning("outbox over its budget (%d images / %d MiB); dropped oldest image %s",
                        self.max_items, self.max_bytes // 2**20, victim.id)

    def next_batch(self, size: int, priority_only: bool = False) -> list[Item]:
        """The next items to send (priority first, oldest first), recorded in the journal before they leave."""
        with self._lock:
            waiting = list(self.queues[True]) if priority_only else [*self.queues[True], *self.queues[False]]
            batch = waiting[:size]
            self.in_flight = {i.id for i in batch}
        if batch:
            write_json_atomic(self.journal, [i.id for i in batch])
        return batch

    def done_sending(self, keep_journal: bool = False) -> None:
        """The batch in flight is answered (the journal goes), or cut off before its answer (`keep_journal`: the next
        start counts its items as maybe received twice)."""
        with self._lock:
            self.in_flight = set()
        if not keep_journal:
            self.journal.unlink(missing_ok=True)

    def remove(self, items: list[Item], quarantine: bool = False) -> None:
        with self._lock:
            for item in items:
                queue = self.queues[item.priority]
                if item in queue:
                    queue.remove(item)
                    self.bytes -= item.size
                for f in self.files(item):
                    if quarantine and f.exists():
                        os.replace(f, self.quarantine_dir / f.name)
                    else:
                        f.unlink(missing_ok=True)
            self._update_gauges()

    def read(self, items: list[Item]) -> list[tuple[str, tuple[str, bytes, str]]]:
        """The multipart parts of `items`: per item its JSON, then its JPEG, named as the reference names them."""
        parts = []
        for item in items:
            jpg, meta = self.files(item)
            parts.append(("files", (item.part_name("json"), meta.read_bytes(), "application/json")))
            parts.append(("files", (item.part_name("jpg"), jpg.read_bytes(), "image/jpeg")))
        return parts
