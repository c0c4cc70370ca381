"""Capped exponential backoff with full jitter, shared by every retry loop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of `base * 2**n` seconds, capped at `cap`, each drawn uniformly from [delay/2, delay].

    Half-jitter keeps retries from many nodes apart (no thundering herd) while guaranteeing a minimum wait.
    """

    base: float = 0.5
    cap: float = 30.0
    failures: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self._rng.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


def parse_retry_after(value: str | None, cap: float = 300.0) -> float | None:
    """A Retry-After header given in seconds, capped; None when absent or an HTTP date."""
    if value:
        try:
            return max(0.0, min(cap, float(value)))
        except ValueError:
            pass
    return None


def retry_after_seconds(value: str | None, default: float, cap: float = 300.0) -> float:
    """Parse a Retry-After header given in seconds; fall back to `default` when absent or an HTTP date."""
    seconds = parse_retry_after(value, cap)
    return default if seconds is None else seconds
