"""Prometheus metrics of one detector (own registry per app, so tests and several apps do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DetectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("loop_detector_requests", "Requests by route and status", ["route", "status"],
                                registry=r)
        self.in_flight = Gauge("loop_detector_requests_in_flight", "Requests being served now, by route (what an "
                               "autoscaler scales the detectors on)", ["route"], registry=r)
        self.latency = Histogram("loop_detector_request_seconds", "Request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.inference = Histogram("loop_detector_inference_seconds", "Decode + inference time per image",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.outbox_items = Gauge("loop_detector_outbox_items", "Images waiting in the outbox", ["queue"],
                                  registry=r)
        self.outbox_bytes = Gauge("loop_detector_outbox_bytes", "Bytes waiting in the outbox", registry=r)
        self.outbox_drain = Gauge("loop_detector_outbox_drain_seconds", "How long the waiting images would take at "
                                  "the recent delivery rate (NaN while nothing is delivered)", registry=r)
        self.uploaded = Counter("loop_detector_outbox_uploaded", "Images the Loop accepted", registry=r)
        self.upload_failures = Counter("loop_detector_outbox_upload_failures", "Failed upload requests",
                                       ["reason"], registry=r)
        self.dropped = Counter("loop_detector_outbox_dropped", "Images dropped from the outbox", ["reason"],
                               registry=r)
        self.interrupted = Counter("loop_detector_outbox_interrupted", "Images whose upload a crash interrupted "
                                   "(sent again after the restart, so the Loop may have them twice)", registry=r)
        self.quarantined = Counter("loop_detector_outbox_quarantined", "Images the Loop refused (kept on disk)",
                                   registry=r)
        self.active_learning_picks = Counter("loop_detector_active_learning_picks", "Images a rule picked and "
                                             "sent to the outbox", ["rule"], registry=r)
        self.active_learning_over_quota = Counter("loop_detector_active_learning_over_quota", "Images a rule "
                                                  "picked but its own quota held back", ["rule"], registry=r)
        self.active_learning_skips = Counter("loop_detector_active_learning_skips", "Images not sent to the Loop, "
                                             "by reason (not_relevant, rule_quota, quota)", ["reason"], registry=r)
        self.model_info = Gauge("loop_detector_model_info", "The model being served: version, format and the "
                                "execution provider running it", ["version", "format", "provider"], registry=r)
        self.model_swaps = Counter("loop_detector_model_swaps", "Model versions swapped in", registry=r)
        self.model_failures = Counter("loop_detector_model_failures", "Model packages that failed to load",
                                      registry=r)

    def set_model(self, version: str, fmt: str, provider: str | None) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version, format=fmt, provider=provider or "unknown").set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
