"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ..deps import DeploymentDep, HealthDep, MetricsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is alive (no dependency checks)."""
    return {"status": "alive"}


@router.get("/ready")
def ready(deployment: DeploymentDep, health: HealthDep) -> JSONResponse:
    """200 once a model is loaded and answering; 503 with the reason before that.

    Background tasks that keep failing (the outbox cannot deliver, the Loop's target cannot be read, ...) are
    listed under `failing`; they do not make the detector unready, since it still answers detections.
    `building` names a model being downloaded, loaded or warmed up (an engine build may take minutes) while the
    previous one keeps serving.
    """
    version = deployment.current_version()
    failing = health.failing()
    if version is None:
        reason = deployment.errors.get("update_model") or ("building the first model" if deployment.building
                                                           else "no model loaded yet")
        return JSONResponse({"status": "not ready", "reason": reason, "failing": failing,
                             "building": deployment.building}, status_code=503)
    return JSONResponse({"status": "degraded" if failing else "ready", "model_version": version,
                         "model_format": deployment.serving_format(), "failing": failing,
                         "building": deployment.building})


@router.get("/metrics")
def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
