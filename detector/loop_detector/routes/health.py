"""The detector's answers to the shared `/health`, `/ready`, `/metrics` and `/status` routes."""

from __future__ import annotations

from loop_shared.node_routes import TaskHealthDep, node_router

from ..deps import DeploymentDep, MetricsDep, OutboxDep
from ..outbox import TASK as OUTBOX_TASK
from ..schemas import (
    ActiveLearningFigures,
    DetectorNodeStatus,
    DetectorNotReady,
    DetectorReady,
    OutboxFigures,
    RouteFigures,
)
from ..status_figures import by_label, request_figures, totals


def readiness(deployment: DeploymentDep, health: TaskHealthDep) -> DetectorReady | DetectorNotReady:
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
        return DetectorNotReady(reason=reason, failing=failing, building=deployment.building)
    return DetectorReady(status=DetectorReady.status_for(failing), model_version=version,
                         model_format=deployment.serving_format(), failing=failing, building=deployment.building)


def status(deployment: DeploymentDep, outbox: OutboxDep, metrics: MetricsDep,
           health: TaskHealthDep) -> DetectorNodeStatus:
    """The served model and its categories, the Loop's target, version control and operation mode, the outbox
    (depth, upload state, last error), the active-learning picks by rule and skips by reason, and request counts
    and latency per route (what the page at `/` shows)."""
    info = deployment.model_info()
    registry = metrics.registry
    summed = totals(registry)
    outbox_task = health.tasks.get(OUTBOX_TASK)
    return DetectorNodeStatus(
        model=info.model_dump(mode="json") if info else None,
        model_format=deployment.logic_cls.model_format,
        target_version=deployment.target["version"] if deployment.target else None,
        loop_version=deployment.loop_target["version"] if deployment.loop_target else None,
        version_control=deployment.version_control.value,
        operation_mode=deployment.operation_mode.value,
        errors=dict(deployment.errors),
        outbox=OutboxFigures(
            mode=outbox.mode.value, depth=outbox.depth(), bytes=int(summed.get("loop_detector_outbox_bytes", 0)),
            uploaded=int(summed.get("loop_detector_outbox_uploaded_total", 0)),
            failed_requests=int(summed.get("loop_detector_outbox_upload_failures_total", 0)),
            dropped=int(summed.get("loop_detector_outbox_dropped_total", 0)),
            quarantined=int(summed.get("loop_detector_outbox_quarantined_total", 0)),
            last_error=outbox_task.last_error if outbox_task and outbox_task.consecutive_failures else None,
            last_success=outbox_task.last_success if outbox_task else None),
        active_learning=ActiveLearningFigures(
            picks=by_label(registry, "loop_detector_active_learning_picks_total", "rule"),
            over_quota=by_label(registry, "loop_detector_active_learning_over_quota_total", "rule"),
            skips=by_label(registry, "loop_detector_active_learning_skips_total", "reason")),
        requests={route: RouteFigures.model_validate(figures)
                  for route, figures in request_figures(registry).items()},
        failing=health.failing(),
    )


router = node_router(readiness, status=status, metrics_help="Prometheus metrics: requests, their latency and those "
                     "in flight per route, inference time, the outbox, active learning, the served model and swaps, "
                     "and the health of the background tasks.")
