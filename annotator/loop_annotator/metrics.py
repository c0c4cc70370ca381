"""Prometheus metrics of the annotator: events by type and result, their duration, annotations sent, and the
histories and images it holds (read from the stores when scraped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from loop_shared.schemas import AnnotationEventType

from .histories import Histories
from .images import ImageCache

P = "loop_annotator"
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)


class StoresCollector(Collector):
    def __init__(self, histories: Histories, images: ImageCache) -> None:
        self.histories, self.images = histories, images

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(f"{P}_histories", "People with an unfinished annotation kept",
                                value=len(self.histories))
        yield GaugeMetricFamily(f"{P}_history_bytes", "Memory the kept histories hold (estimated)",
                                value=self.histories.total_bytes)
        dropped = CounterMetricFamily(f"{P}_histories_dropped", "Histories dropped by the node's bounds",
                                      labels=["reason"])
        for reason, count in self.histories.dropped.items():
            dropped.add_metric([reason], count)
        yield dropped
        yield GaugeMetricFamily(f"{P}_images_in_memory", "Decoded images kept", value=len(self.images))
        yield GaugeMetricFamily(f"{P}_image_bytes", "Memory the decoded images hold", value=self.images.memory_bytes)
        yield CounterMetricFamily(f"{P}_image_downloads", "Images downloaded from the Loop",
                                  value=self.images.downloads)


class AnnotatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter(f"{P}_events", "User inputs handled, by event type and result (ok, refused: a "
                              "success:false answer)", ["event_type", "result"], registry=registry)
        for event in AnnotationEventType:
            for result in ("ok", "refused"):
                self.events.labels(event_type=event.value, result=result)
        self.seconds = Histogram(f"{P}_event_seconds", "Time to answer one user input (image download included)",
                                 buckets=SECONDS_BUCKETS, registry=registry)
        self.annotations = Counter(f"{P}_annotations", "Confirmed annotations, by whether the Loop took them",
                                   ["result"], registry=registry)
        for result in ("sent", "failed"):
            self.annotations.labels(result=result)

    def watch(self, histories: Histories, images: ImageCache) -> None:
        self.registry.register(StoresCollector(histories, images))

    def event(self, event_type: str, ok: bool, seconds: float) -> None:
        known = event_type if event_type in AnnotationEventType.__members__.values() else "other"
        self.events.labels(event_type=known, result="ok" if ok else "refused").inc()
        self.seconds.observe(seconds)
