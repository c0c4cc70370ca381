"""Upload quotas: at most N images per minute, hour and day in any such window (sliding), per scope.

A scope is the total, a camera, a rule, or a rule on one camera. Only scopes that have limits are counted; each
keeps the times of its uploads within its longest window, in `outbox/quotas.json` (written atomically after every
counted upload), so a restart does not reset a quota. The clock is the wall clock (injectable for tests).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from pathlib import Path

from loop_shared.model_package import remove_partial_writes, write_json_atomic

log = logging.getLogger("detector.quotas")
Windows = list[tuple[float, int]]  # (seconds, at most this many)


class QuotaBook:
    def __init__(self, path: Path, max_scopes: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self.path, self.max_scopes, self._clock = path, max_scopes, clock
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        remove_partial_writes(self.path.parent, self.path.name)
        try:
            data = json.loads(self.path.read_text())
            for scope, times in data.items():
                self._times[str(scope)] = deque(sorted(float(t) for t in times))
        except FileNotFoundError:
            return
        except (ValueError, TypeError, AttributeError) as e:
            log.warning("ignoring unreadable %s (quotas start from zero): %s", self.path, e)

    def now(self) -> float:
        return self._clock()

    def allows(self, scope: str, windows: Windows, now: float) -> bool:
        """Whether one more upload in `scope` stays within every window's limit."""
        return self.wait(scope, windows, now) == 0

    def wait(self, scope: str, windows: Windows, now: float) -> float:
        """Seconds until one more upload in `scope` fits every window (0 when it fits now, inf for a limit of 0).

        In each full window, the uploads beyond the limit minus one must leave it: the window frees up when the
        oldest upload that has to go is `seconds` old.
        """
        wait = 0.0
        with self._lock:
            times = self._times.get(scope, deque())
            for seconds, limit in windows:
                if limit <= 0:
                    return float("inf")
                inside = [t for t in times if t > now - seconds]
                if len(inside) >= limit:
                    wait = max(wait, inside[len(inside) - limit] + seconds - now)
        return wait

    def count(self, scopes: Iterable[tuple[str, Windows]], now: float) -> None:
        """Count one upload in each scope that has limits, and persist."""
        changed = False
        with self._lock:
            for scope, windows in scopes:
                if not windows:
                    continue
                times = self._times.pop(scope, deque())
                self._times[scope] = times  # most recently used last
                times.append(now)
                horizon = now - max(seconds for seconds, _ in windows)
                while times and times[0] <= horizon:
                    times.popleft()
                changed = True
            while len(self._times) > self.max_scopes:
                self._times.popitem(last=False)
            if changed:  # under the lock: a later count never lands on disk before an earlier one
                write_json_atomic(self.path, {scope: list(times) for scope, times in self._times.items()})

    def used(self, scope: str, seconds: float, now: float) -> int:
        with self._lock:
            return sum(1 for t in self._times.get(scope, ()) if t > now - seconds)
