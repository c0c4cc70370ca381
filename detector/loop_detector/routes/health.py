"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ..deps import DeploymentDep, MetricsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is alive (no dependency checks)."""
    return {"status": "alive"}


@router.get("/ready")
def ready(deployment: DeploymentDep) -> JSONResponse:
    """200 once a model is loaded and answering; 503 with the reason before that."""
    version = deployment.current_version()
    if version is None:
        reason = deployment.errors.get("update_model") or "no model loaded yet"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": version})


@router.get("/metrics")
def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
