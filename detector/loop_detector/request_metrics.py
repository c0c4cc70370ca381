"""ASGI middleware measuring the inference and upload routes: requests by status, those in flight, latency.

It sits outermost (see app.py), so it measures the hot path too, which skips FastAPI's own middleware.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import DetectorMetrics

MEASURED = {"/detect", "/detect/batch", "/upload"}


class RequestMetrics:
    """ASGI middleware counting requests, those in flight and their latency for the inference and upload routes."""

    def __init__(self, app: ASGIApp, metrics: DetectorMetrics) -> None:
        self.app, self.metrics = app, metrics
        self.latency = {path: metrics.latency.labels(route=path) for path in MEASURED}
        self.in_flight = {path: metrics.in_flight.labels(route=path) for path in MEASURED}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in MEASURED:
            await self.app(scope, receive, send)
            return
        started: float = time.perf_counter()
        status: str | None = None
        self.in_flight[path].inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
            status = status or "disconnected"  # returned without answering: the client went away
        finally:
            self.in_flight[path].dec()
            self.metrics.requests.labels(route=path, status=status or "500").inc()
            self.latency[path].observe(time.perf_counter() - started)
