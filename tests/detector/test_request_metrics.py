"""The detector's request metrics: requests in flight per route (what the Kubernetes autoscaler scales on)."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope, Send

from loop_detector.metrics import DetectorMetrics
from loop_detector.request_metrics import RequestMetrics


def in_flight(metrics: DetectorMetrics, route: str) -> float | None:
    return metrics.registry.get_sample_value("loop_detector_requests_in_flight", {"route": route})


async def test_requests_in_flight_rise_while_served_and_fall_when_answered_or_failed() -> None:
    metrics = DetectorMetrics()
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        if scope["path"] == "/upload":
            raise RuntimeError("the route failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = RequestMetrics(app, metrics)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    def request(path: str) -> asyncio.Task:
        return asyncio.create_task(middleware({"type": "http", "path": path}, receive, send))  # type: ignore[arg-type]

    tasks = [request("/detect"), request("/detect"), request("/upload"), request("/about")]
    await asyncio.sleep(0.01)
    assert (in_flight(metrics, "/detect"), in_flight(metrics, "/upload")) == (2, 1)
    assert in_flight(metrics, "/about") is None  # not a measured route
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "RuntimeError", "NoneType"]
    assert (in_flight(metrics, "/detect"), in_flight(metrics, "/upload")) == (0, 0)
    assert metrics.registry.get_sample_value("loop_detector_requests_total",
                                             {"route": "/upload", "status": "500"}) == 1
