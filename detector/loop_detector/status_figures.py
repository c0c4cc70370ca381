"""Figures for `GET /status` read back from the detector's Prometheus registry (one source for both)."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry


def _quantile(buckets: list[tuple[float, float]], count: float, q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile `q` (None without observations)."""
    if count <= 0:
        return None
    for bound, cumulative in buckets:
        if cumulative >= q * count:
            return None if math.isinf(bound) else bound
    return None


def request_figures(registry: CollectorRegistry) -> dict[str, dict[str, Any]]:
    """Per measured route: answers by status, and latency (mean, p50 and p95 as histogram bucket bounds)."""
    routes: dict[str, dict[str, Any]] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            route = sample.labels.get("route")
            if route is None:
                continue
            entry = routes.setdefault(route, {"statuses": {}, "count": 0, "mean_seconds": None})
            if sample.name == "loop_detector_requests_total":
                entry["statuses"][sample.labels["status"]] = int(sample.value)
            elif sample.name == "loop_detector_request_seconds_bucket":
                buckets.setdefault(route, []).append((float(sample.labels["le"]), sample.value))
            elif sample.name == "loop_detector_request_seconds_count":
                entry["count"] = int(sample.value)
            elif sample.name == "loop_detector_request_seconds_sum":
                entry["sum"] = sample.value
    for route, entry in routes.items():
        total = entry.pop("sum", 0.0)
        if entry["count"]:
            entry["mean_seconds"] = total / entry["count"]
        ordered = sorted(buckets.get(route, []))
        entry["p50_seconds"] = _quantile(ordered, entry["count"], 0.5)
        entry["p95_seconds"] = _quantile(ordered, entry["count"], 0.95)
    return routes


def totals(registry: CollectorRegistry) -> dict[str, float]:
    """Each sample name's value summed over its labels."""
    summed: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            summed[sample.name] = summed.get(sample.name, 0.0) + sample.value
    return summed


def by_label(registry: CollectorRegistry, name: str, label: str) -> dict[str, int]:
    """The samples of counter `name` by the value of their `label` (those counted at least once)."""
    return {sample.labels[label]: int(sample.value) for family in registry.collect() for sample in family.samples
            if sample.name == name and sample.value and label in sample.labels}
