"""Which images go to the Loop: the active-learning rules pick, the quotas allow, the metrics count both.

An image that rules pick is uploaded when at least one of those rules still has room in its own quota (in total
and on the image's camera) and the overall quota has room too; it then carries the tags of every such rule, and
counts against each of their quotas and the overall one. Images with `autoupload: all` and plain `/upload`
images count against the overall quota only; priority uploads are never held back by a quota.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loop_shared.schemas import ImageMetadata

from .active_learning import ActiveLearningConfig, Quota, Rules, rule_name
from .metrics import DetectorMetrics
from .quotas import QuotaBook, Windows


@dataclass
class Decision:
    upload: bool
    tags: list[str] = field(default_factory=list)
    reason: str = ""  # why not, when not: not_relevant, rule_quota, quota
    retry_after: float | None = None  # held back by a quota: seconds until it has room again


def _scopes(prefix: str, quota: Quota | None, camera_id: str | None) -> list[tuple[str, Windows]]:
    if quota is None:
        return []
    scopes = [(prefix, quota.windows())]
    if quota.per_camera is not None:
        scopes.append((f"{prefix}|camera:{camera_id or ''}", quota.per_camera.windows()))
    return scopes


class UploadPolicy:
    """Thread-safe: called from the inference threads."""

    def __init__(self, config: ActiveLearningConfig, rules: Rules, book: QuotaBook, metrics: DetectorMetrics) -> None:
        self.config, self.rules, self.book, self.metrics = config, rules, book, metrics
        self._rule_quotas = {rule_name(r): r.quota for r in config.rules}

    def _allowed(self, scopes: list[tuple[str, Windows]], now: float) -> bool:
        return all(self.book.allows(scope, windows, now) for scope, windows in scopes)

    def filtered(self, metadata: ImageMetadata, camera_id: str | None, conf_threshold: float) -> Decision:
        """`autoupload: filtered` (the default): the rules decide, the quotas limit."""
        picks = self.rules.picks(metadata, camera_id, conf_threshold)
        if not picks:
            return self._skip("not_relevant")
        now = self.book.now()
        room = {name: tags for name, tags in picks.items()
                if self._allowed(_scopes(f"rule:{name}", self._rule_quotas.get(name), camera_id), now)}
        for name in picks.keys() - room.keys():
            self.metrics.active_learning_over_quota.labels(rule=name).inc()
        if not room:
            return self._skip("rule_quota")
        overall = _scopes("total", self.config.quota, camera_id)
        if not self._allowed(overall, now):
            return self._skip("quota")
        self.book.count([*overall, *[s for name in room
                                     for s in _scopes(f"rule:{name}", self._rule_quotas.get(name), camera_id)]], now)
        tags: list[str] = []
        for name, rule_tags in room.items():
            self.metrics.active_learning_picks.labels(rule=name).inc()
            tags += [t for t in rule_tags if t not in tags]
        return Decision(True, tags)

    def unconditional(self, camera_id: str | None = None, priority: bool = False) -> Decision:
        """`autoupload: all`, and `/upload`: only the overall quota applies, and never to priority uploads."""
        if priority:
            return Decision(True)
        now = self.book.now()
        overall = _scopes("total", self.config.quota, camera_id)
        if not self._allowed(overall, now):
            return self._skip("quota", max(self.book.wait(scope, windows, now) for scope, windows in overall))
        self.book.count(overall, now)
        return Decision(True)

    def _skip(self, reason: str, retry_after: float | None = None) -> Decision:
        self.metrics.active_learning_skips.labels(reason=reason).inc()
        return Decision(False, reason=reason, retry_after=retry_after)
