"""`GET /activity`: the last user inputs the annotator answered, for the page at `/`."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import InputsDep
from ..schemas import Activity, RecentActivity

router = APIRouter(tags=["pages"])


@router.get("/activity")
def activity(inputs: InputsDep) -> RecentActivity:
    """The last user inputs (at most 50), newest first: event type, whether it succeeded, why not, how long it
    took. Neither the people's ids nor their images are shown."""
    return RecentActivity(recent=[Activity.model_validate(item) for item in list(inputs.recent)])
