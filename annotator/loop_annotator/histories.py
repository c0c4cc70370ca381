"""One history per person (`frontend_id`), bounded in number, memory and age.

A person's events are handled one at a time (`lock`). A history idle longer than the TTL is dropped when the
store is next used; above the count or memory budget the history idle longest goes first. The ages are read on
an injected clock, so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loop_shared.clock import SYSTEM_CLOCK, Clock


def size_of(value: Any, depth: int = 0) -> int:
    """Bytes a history holds, roughly: its own `nbytes` when it says, numpy arrays by theirs, containers summed."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    own = getattr(value, "nbytes", None)
    if isinstance(own, int):
        return own
    size = sys.getsizeof(value)
    if depth > 6:
        return size
    if isinstance(value, dict):
        return size + sum(size_of(k, depth + 1) + size_of(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return size + sum(size_of(v, depth + 1) for v in value)
    if hasattr(value, "__dict__"):
        return size + size_of(vars(value), depth + 1)
    return size


@dataclass
class Entry:
    history: Any
    used: float
    size: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Histories:
    def __init__(self, max_count: int, max_bytes: int, ttl: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.max_count, self.max_bytes, self.ttl, self.clock = max_count, max_bytes, ttl, clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self.dropped: dict[str, int] = {"expired": 0, "count": 0, "memory": 0}
        self._bytes = 0  # kept as entries change: /metrics reads it from another thread

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, frontend_id: str) -> bool:
        return frontend_id in self._entries

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def _resize(self, entry: Entry) -> None:
        size = size_of(entry.history)
        self._bytes += size - entry.size
        entry.size = size

    def _remove(self, frontend_id: str) -> bool:
        entry = self._entries.pop(frontend_id, None)
        if entry is None:
            return False
        self._bytes -= entry.size
        return True

    def entry(self, frontend_id: str, create: Callable[[], Any]) -> Entry:
        """The person's entry, made with `create()` when they have none; marks it as just used."""
        self.expire()
        now = self.clock.monotonic()
        entry = self._entries.get(frontend_id)
        if entry is None:
            history = create()
            entry = self._entries[frontend_id] = Entry(history, now)
            self._resize(entry)
            self._shrink(keep=frontend_id)
        else:
            entry.used = now
            self._entries.move_to_end(frontend_id)
        return entry

    def measure(self, frontend_id: str) -> None:
        """After an event changed the history: count its size again and keep the budget."""
        entry = self._entries.get(frontend_id)
        if entry is not None:
            self._resize(entry)
            self._shrink(keep=frontend_id)

    def reset(self, frontend_id: str, create: Callable[[], Any]) -> None:
        """An empty history for the person, if they have an entry (Escape, a confirmed annotation, a failure)."""
        entry = self._entries.get(frontend_id)
        if entry is not None:
            entry.history = create()
            self._resize(entry)

    def forget(self, frontend_id: str) -> bool:
        return self._remove(frontend_id)

    def expire(self) -> None:
        deadline = self.clock.monotonic() - self.ttl
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if oldest.used > deadline:
                break
            self._remove(key)
            self.dropped["expired"] += 1

    def _shrink(self, keep: str) -> None:
        while len(self._entries) > self.max_count and self._drop_oldest(keep):
            self.dropped["count"] += 1
        while self.total_bytes > self.max_bytes and self._drop_oldest(keep):
            self.dropped["memory"] += 1

    def _drop_oldest(self, keep: str) -> bool:
        for key in self._entries:
            if key != keep:
                return self._remove(key)
        return False
