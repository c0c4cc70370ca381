"""Sharing the work between converter replicas without a coordinator.

Each model belongs to one replica: `sha256(org/project/model id) mod LOOP_REPLICAS`, compared with this replica's
number (`LOOP_REPLICA_INDEX`). Replicas therefore never convert the same model twice while they all run. A
model that belongs to another replica becomes ours too once we have seen it unconverted for
`LOOP_TAKEOVER_AFTER` seconds: that replica is gone (or stuck), and its share is taken over by whoever notices.
"""

from __future__ import annotations

import hashlib
import re
import time

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def replica_number(value: str) -> int:
    """A replica's number from `LOOP_REPLICA_INDEX`: a number (Swarm's 1-based `{{.Task.Slot}}`, a StatefulSet's
    0-based ordinal) or a name ending in one (a StatefulSet pod name such as `converter-2`)."""
    match = _TRAILING_NUMBER.search(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is neither a number nor a name ending in one")
    return int(match.group(1))


def owner(key: str, replicas: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % replicas


class Partition:
    def __init__(self, index: int, replicas: int, takeover_after: float) -> None:
        self.index, self.replicas, self.takeover_after = index % replicas, replicas, takeover_after
        self._first_seen: dict[str, float] = {}

    def mine(self, key: str) -> bool:
        """Whether this replica converts `key` now: its own share, or another's that waited too long."""
        if self.replicas == 1 or owner(key, self.replicas) == self.index:
            return True
        first = self._first_seen.setdefault(key, time.monotonic())
        return time.monotonic() - first >= self.takeover_after

    def taken_over(self, key: str) -> bool:
        return self.replicas > 1 and owner(key, self.replicas) != self.index

    def forget(self, key: str) -> None:
        self._first_seen.pop(key, None)
