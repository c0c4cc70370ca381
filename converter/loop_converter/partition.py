"""Sharing the work between converter replicas without a coordinator.

Every replica ranks the replicas for each model the same way (rendezvous hashing: by `sha256(model key, replica)`),
so they agree without talking. The first in a model's ranking converts it at once. A model still unconverted after
`LOOP_TAKEOVER_AFTER` seconds (as this replica saw it) means its first replica is gone or stuck: the second in the
ranking takes it, the third after twice that time, and so on. A replica that disappears thus has its share split
over the others, each model going to exactly one of them, and no two replicas convert the same model while they
all run. Keep `LOOP_TAKEOVER_AFTER` above the time one conversion takes, or a slow first replica and its
successor could both finish one (the upload then re-checks the Loop's formats, which narrows but cannot close
that window).
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


def _weight(key: str, replica: int) -> int:
    return int(hashlib.sha256(f"{key}\n{replica}".encode()).hexdigest()[:16], 16)


def ranking(key: str, replicas: int) -> list[int]:
    """The replicas in the order in which they take `key`: the owner first, then who takes over from it."""
    return sorted(range(replicas), key=lambda replica: (-_weight(key, replica), replica))


def owner(key: str, replicas: int) -> int:
    return ranking(key, replicas)[0]


class Partition:
    def __init__(self, index: int, replicas: int, takeover_after: float) -> None:
        self.index, self.replicas, self.takeover_after = index % replicas, replicas, takeover_after
        self._first_seen: dict[str, float] = {}

    def rank(self, key: str) -> int:
        """0 when `key` is this replica's own; n when n replicas come before this one for it."""
        return ranking(key, self.replicas).index(self.index) if self.replicas > 1 else 0

    def mine(self, key: str) -> bool:
        """Whether this replica converts `key` now: its own share, or one that waited `rank` takeover periods."""
        rank = self.rank(key)
        if rank == 0:
            return True
        first = self._first_seen.setdefault(key, time.monotonic())
        return time.monotonic() - first >= rank * self.takeover_after

    def taken_over(self, key: str) -> bool:
        return self.rank(key) > 0

    def forget(self, key: str) -> None:
        self._first_seen.pop(key, None)
