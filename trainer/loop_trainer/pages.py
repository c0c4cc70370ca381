"""`GET /trainings`: the current training in full and the last finished ones, for the page at `/`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .lifecycle import Lifecycle

router = APIRouter()


@router.get("/trainings")
def trainings(request: Request) -> dict[str, Any]:
    """The current training's record (per-epoch `history`, `best_metrics` with the confusion matrix, categories),
    the last finished trainings (newest first) with their results, and totals since the history began."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    record = lifecycle.record
    current = None
    if record is not None:
        current = {**record.model_dump(mode="json"), "state": lifecycle.state.value, "progress": lifecycle.progress}
    return {"current": current, "finished": list(reversed(lifecycle.history.trainings)),
            "totals": lifecycle.history.totals}
