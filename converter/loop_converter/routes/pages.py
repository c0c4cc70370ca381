"""`GET /conversions`: every model the converter has a record of, for the page at `/`."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import WorkerDep
from ..schemas import Conversion, Conversions

router = APIRouter(tags=["pages"])


@router.get("/conversions")
def conversions(worker: WorkerDep) -> Conversions:
    """One entry per model and target format: converted (with its version and time) or failed (with the reason,
    attempts and next attempt); any further figures a record holds (e.g. the accuracy of the conversion) are
    passed on as they are. Newest first."""
    items = []
    for key, record in list(worker.records.items.items()):
        organization, project, model_id, target = [*key.split("/"), "", "", ""][:4]
        items.append({"organization": organization, "project": project, "model_id": model_id, "target": target,
                      **record})
    items.sort(key=lambda i: float(i.get("at") or i.get("next_attempt") or 0), reverse=True)
    return Conversions(conversions=[Conversion.model_validate(item) for item in items])
