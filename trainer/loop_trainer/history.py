"""What the trainer remembers of finished trainings: a summary of the last few, and running totals.

The lifecycle forgets a training at cleanup (its folder and record are deleted); this keeps what people and
`/metrics` want afterwards — result, duration, per-epoch figures, the best model's figures and confusion matrix —
in `LOOP_DATA_DIR/history.json`, written atomically, so it survives restarts. Only the last `keep` trainings are
kept; the totals count every training since the file was created.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from loop_shared.model_package import remove_partial_writes, write_json_atomic

from .record import TrainingRecord

log = logging.getLogger("trainer.history")
TOTALS = ("done", "failed", "aborted", "seconds", "crashes", "images", "dropped_corrupt", "missing_images")


def outcome_of(record: TrainingRecord, aborted: bool) -> str:
    if aborted:
        return "aborted"
    return "failed" if record.failed else "done"


class TrainingHistory:
    def __init__(self, path: Path, keep: int = 20) -> None:
        self.path, self.keep = path, keep
        self.trainings: list[dict[str, Any]] = []
        self.totals: dict[str, float] = dict.fromkeys(TOTALS, 0)
        remove_partial_writes(path.parent, path.name)
        try:
            data = json.loads(path.read_text())
            self.trainings = list(data["trainings"])[-keep:]
            self.totals.update({k: float(v) for k, v in data["totals"].items() if k in TOTALS})
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.error("ignoring %s, which cannot be read (%s); the history starts again", path, e)

    def add(self, record: TrainingRecord, outcome: str, finished: float | None = None) -> dict[str, Any]:
        """Remember a training that ends now with `outcome` (done, failed or aborted). Blocking (disk)."""
        finished = finished or time.time()
        seconds = max(0.0, finished - record.start_time)
        summary = {
            **record.model_dump(mode="json", exclude={"state", "stop_requested", "synced_epoch", "errors"}),
            "categories": [{"id": c.id, "name": c.name, "type": c.type, "color": c.color} for c in record.categories],
            "result": outcome, "errors": dict(record.errors), "finished": finished, "seconds": round(seconds, 1),
            "last_state": record.state.value,
        }
        known = any(t.get("id") == record.id for t in self.trainings)  # a crash right after the last add
        self.trainings = [*(t for t in self.trainings if t.get("id") != record.id), summary][-self.keep:]
        if not known:
            self._count(record, outcome, seconds)
        write_json_atomic(self.path, {"totals": self.totals, "trainings": self.trainings})
        return summary

    def _count(self, record: TrainingRecord, outcome: str, seconds: float) -> None:
        self.totals[outcome] += 1
        self.totals["seconds"] += seconds
        for key, value in (("crashes", record.crashes), ("images", record.image_count),
                           ("dropped_corrupt", record.dropped_corrupt), ("missing_images", record.missing_images)):
            self.totals[key] += value

    async def remember(self, record: TrainingRecord, aborted: bool) -> None:
        """`add` off the event loop; a disk error is logged, never raised (cleanup must go on)."""
        try:
            await asyncio.to_thread(self.add, record, outcome_of(record, aborted))
        except OSError as e:
            log.error("could not write the training history %s: %s", self.path, e)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.trainings[-1] if self.trainings else None
