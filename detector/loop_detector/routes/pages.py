"""`GET /status`: what the detector page shows, in one JSON answer (model, deployment, outbox, active learning,
request figures)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from ..deps import DeploymentDep, HealthDep, MetricsDep, OutboxDep
from ..outbox import TASK as OUTBOX_TASK

router = APIRouter(tags=["health"])


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


def _totals(registry: CollectorRegistry) -> dict[str, float]:
    """Each sample name's value summed over its labels."""
    totals: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _by_label(registry: CollectorRegistry, name: str, label: str) -> dict[str, int]:
    """The samples of counter `name` by the value of their `label` (those counted at least once)."""
    return {sample.labels[label]: int(sample.value) for family in registry.collect() for sample in family.samples
            if sample.name == name and sample.value and label in sample.labels}


@router.get("/status")
def status(deployment: DeploymentDep, outbox: OutboxDep, metrics: MetricsDep, health: HealthDep) -> dict[str, Any]:
    """The served model and its categories, the Loop's target, version control and operation mode, the outbox
    (depth, upload state, last error), the active-learning picks by rule and skips by reason, and request counts
    and latency per route (what the page at `/` shows)."""
    info = deployment.model_info()
    registry = metrics.registry
    totals = _totals(registry)
    outbox_task = health.tasks.get(OUTBOX_TASK)
    return {
        "model": info.model_dump(mode="json") if info else None,
        "model_format": deployment.logic_cls.model_format,
        "target_version": deployment.target["version"] if deployment.target else None,
        "loop_version": deployment.loop_target["version"] if deployment.loop_target else None,
        "version_control": deployment.version_control.value,
        "operation_mode": deployment.operation_mode.value,
        "errors": dict(deployment.errors),
        "outbox": {"mode": outbox.mode.value, "depth": outbox.depth(),
                   "bytes": int(totals.get("loop_detector_outbox_bytes", 0)),
                   "uploaded": int(totals.get("loop_detector_outbox_uploaded_total", 0)),
                   "failed_requests": int(totals.get("loop_detector_outbox_upload_failures_total", 0)),
                   "dropped": int(totals.get("loop_detector_outbox_dropped_total", 0)),
                   "quarantined": int(totals.get("loop_detector_outbox_quarantined_total", 0)),
                   "last_error": outbox_task.last_error if outbox_task and outbox_task.consecutive_failures else None,
                   "last_success": outbox_task.last_success if outbox_task else None},
        "active_learning": {
            "picks": _by_label(registry, "loop_detector_active_learning_picks_total", "rule"),
            "over_quota": _by_label(registry, "loop_detector_active_learning_over_quota_total", "rule"),
            "skips": _by_label(registry, "loop_detector_active_learning_skips_total", "reason")},
        "requests": request_figures(registry),
        "failing": health.failing(),
    }
