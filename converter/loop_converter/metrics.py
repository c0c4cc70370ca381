"""Prometheus metrics of the converter: conversions by result, their duration, the backlog, failing models.

The worker counts conversions and their duration as they happen and sets the backlog after every scan; the
number of models waiting for a retry is read from the records when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .records import Records

P = "loop_converter"
RESULTS = ("converted", "failed", "skipped")
SECONDS_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class RecordsCollector(Collector):
    def __init__(self, records: Records) -> None:
        self.records = records

    def collect(self) -> Iterator[Any]:
        by_status = GaugeMetricFamily(f"{P}_models", "Models the converter has records of, by status (failed: "
                                      "waiting for a retry)", labels=["status"])
        items = list(self.records.items.values())
        for status in ("converted", "failed"):
            by_status.add_metric([status], float(sum(1 for i in items if i.get("status") == status)))
        yield by_status


class ConverterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.conversions = Counter(f"{P}_conversions", "Conversions by result (skipped: another converter was "
                                   "faster)", ["result"], registry=registry)
        for result in RESULTS:
            self.conversions.labels(result=result)
        self.seconds = Histogram(f"{P}_conversion_seconds", "Time to fetch, convert and upload one model "
                                 "(conversions that succeeded)", buckets=SECONDS_BUCKETS, registry=registry)
        self.backlog = Gauge(f"{P}_backlog", "Models with the source format but not the target format at the last "
                             "scan (including those waiting for a retry or another replica)", registry=registry)
        self.last_scan = Gauge(f"{P}_last_scan_timestamp_seconds", "When the last complete scan ended",
                               registry=registry)

    def watch(self, records: Records) -> None:
        self.registry.register(RecordsCollector(records))
