"""`GET /api/stats/received`: every upload as it arrived, repeats included (stub only; the Loop has no such route).

Tests that claim exactly-once delivery assert on these counts: the store keeps one copy of a repeated image and
answers 409 to a repeated model format, so its contents cannot show a repeat.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ReceivedDep
from ..schemas import Received

router = APIRouter(tags=["received (stub only)"])


@router.get("/stats/received")
def received(counts: ReceivedDep, organization: str | None = None, project: str | None = None,
             repeated: bool = False) -> Received:
    """Per image (identifier and JPEG digest) and per model format: how many times it arrived. `repeated=true`
    lists only what arrived more than once; `summary` adds up received, distinct and repeats."""
    return Received.model_validate(counts.listing(organization, project, repeated))
