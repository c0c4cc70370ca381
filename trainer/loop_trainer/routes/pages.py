"""`GET /trainings`: the current training in full and the last finished ones, for the page at `/`."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import LifecycleDep
from ..schemas import CurrentTraining, Trainings

router = APIRouter(tags=["pages"])


@router.get("/trainings")
def trainings(lifecycle: LifecycleDep) -> Trainings:
    """The current training's record (per-epoch `history`, `best_metrics` with the confusion matrix, categories),
    the last finished trainings (newest first) with their results, and totals since the history began."""
    record = lifecycle.record
    current = None
    if record is not None:
        current = CurrentTraining.model_validate({**record.model_dump(), "state": lifecycle.state,
                                                  "progress": lifecycle.progress})
    return Trainings(current=current, finished=list(reversed(lifecycle.history.trainings)),
                     totals=lifecycle.history.totals)
