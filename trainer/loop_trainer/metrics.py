"""Prometheus metrics of the trainer, read from the lifecycle and the training history when scraped.

Nothing is counted in passing: the state, progress and figures come from the current training record, the
totals from `history.json` plus the current training, so they survive restarts and cannot drift from what the
record and the history say.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from loop_shared.schemas import TrainerState

from .lifecycle import Lifecycle
from .record import TrainingRecord

P = "loop_trainer"


def _numbers(figures: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (figures or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("time", "progress")}


def map50_of(figures: dict[str, float]) -> float | None:
    """The mAP@0.5 among a report's figures, whatever the plugin named it (val_map50, map50, test_map50...)."""
    for key in ("val_map50", "map50", "test_map50", "train_map50"):
        if key in figures:
            return figures[key]
    return None


class TrainerCollector(Collector):
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    def collect(self) -> Iterator[Any]:
        lifecycle, history = self.lifecycle, self.lifecycle.history
        record = lifecycle.record
        state = GaugeMetricFamily(f"{P}_state", "1 for the trainer's current state", labels=["state"])
        for value in TrainerState:
            state.add_metric([value.value], float(lifecycle.state == value))
        yield state
        yield GaugeMetricFamily(f"{P}_training_active", "1 while a training is under way", value=float(bool(record)))
        yield GaugeMetricFamily(f"{P}_progress", "Progress of the current step (0..1)",
                                value=lifecycle.progress or 0.0)
        last = _numbers(record.history[-1]) if record and record.history else {}
        best = _numbers(record.best_metrics) if record else {}
        yield GaugeMetricFamily(f"{P}_epoch", "Last epoch the current training reported", value=last.get("epoch", 0))
        if "loss" in last:
            yield GaugeMetricFamily(f"{P}_loss", "Loss of the last reported epoch", value=last["loss"])
        last_map, best_map = map50_of(last), map50_of(best)
        if last_map is not None:
            yield GaugeMetricFamily(f"{P}_map50", "mAP@0.5 of the last evaluated epoch", value=last_map)
        if best_map is not None:
            yield GaugeMetricFamily(f"{P}_best_map50", "mAP@0.5 of the best model so far", value=best_map)
        figures = GaugeMetricFamily(f"{P}_figure", "Every figure the plugin reported, of the last epoch and of the "
                                    "best model", labels=["figure", "of"])
        for of, values in (("last_epoch", last), ("best", best)):
            for name, number in values.items():
                figures.add_metric([name, of], number)
        yield figures
        yield from self._totals(history.totals, record)

    def _totals(self, totals: dict[str, float], record: TrainingRecord | None) -> Iterator[Any]:
        trainings = CounterMetricFamily(f"{P}_trainings", "Finished trainings by result", labels=["result"])
        for result in ("done", "failed", "aborted"):
            trainings.add_metric([result], totals[result])
        yield trainings
        finished = totals["done"] + totals["failed"] + totals["aborted"]
        yield SummaryMetricFamily(f"{P}_training_seconds", "Duration of finished trainings (start to cleanup)",
                                  count_value=int(finished), sum_value=totals["seconds"])
        last = self.lifecycle.history.last
        if last is not None:
            yield GaugeMetricFamily(f"{P}_last_training_seconds", "Duration of the last finished training",
                                    value=float(last["seconds"]))
        yield CounterMetricFamily(f"{P}_crashes", "Crashes of training processes",
                                  value=totals["crashes"] + (record.crashes if record else 0))
        current = record.image_count if record else 0
        yield CounterMetricFamily(f"{P}_images_downloaded", "Training images downloaded and usable",
                                  value=totals["images"] + current)
        dropped = CounterMetricFamily(f"{P}_images_dropped", "Training images left out", labels=["reason"])
        dropped.add_metric(["corrupt"], totals["dropped_corrupt"] + (record.dropped_corrupt if record else 0))
        dropped.add_metric(["missing"], totals["missing_images"] + (record.missing_images if record else 0))
        yield dropped


def register(registry: CollectorRegistry, lifecycle: Lifecycle) -> None:
    registry.register(TrainerCollector(lifecycle))
