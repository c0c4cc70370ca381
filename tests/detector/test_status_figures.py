"""The request figures of `GET /status`, read from the detector's Prometheus registry."""

from __future__ import annotations

from loop_detector.metrics import DetectorMetrics
from loop_detector.status_figures import request_figures


def test_counts_by_status_and_latency_from_the_histogram_buckets() -> None:
    metrics = DetectorMetrics()
    for seconds in [0.004] * 90 + [0.2] * 10:
        metrics.latency.labels(route="/detect").observe(seconds)
    metrics.requests.labels(route="/detect", status="200").inc(97)
    metrics.requests.labels(route="/detect", status="422").inc(3)
    metrics.latency.labels(route="/upload")  # a route without requests yet
    figures = request_figures(metrics.registry)
    detect = figures["/detect"]
    assert detect["statuses"] == {"200": 97, "422": 3} and detect["count"] == 100
    assert abs(detect["mean_seconds"] - (90 * 0.004 + 10 * 0.2) / 100) < 1e-9
    assert detect["p50_seconds"] == 0.005 and detect["p95_seconds"] == 0.25  # the buckets' upper bounds
    assert figures["/upload"] == {"statuses": {}, "count": 0, "mean_seconds": None, "p50_seconds": None,
                                  "p95_seconds": None}
