"""What a person's annotation page sends to the stub: a `UserInput` (loop_shared.schemas, protocol §9) that the stub
checks before forwarding it to an annotation node.

On top of the shared model, the page may leave out `frontend_id` (the stub fills in the caller's session) and
`event_type` must be an `AnnotationEventType` value: the real Loop's page sends nothing else, so anything else is a
mistake of the page worth a reason. Unknown keys are kept (the shared model's), so the input is forwarded as it came.
"""

from __future__ import annotations

from pydantic import Field, StrictStr

from loop_shared.schemas import AnnotationData, AnnotationEventType, UserInput


class PageAnnotationData(AnnotationData):
    event_type: AnnotationEventType = Field(description="What the person did (an AnnotationEventType value).")


class PageInput(UserInput):
    """One mouse or key event of a person annotating an image. `frontend_id` names the person's session (the
    annotation node keeps one history per id); the stub fills in the caller's Socket.IO session when it is missing."""

    # optional here only: what reaches a node always has one, so the shared model keeps it required
    # optional only here, before the stub fills it in: what reaches a node always has one (the shared model's rule)
    frontend_id: StrictStr | None = Field(  # type: ignore[assignment]
        None, description="The annotating session; default: the caller's.")
    data: PageAnnotationData
