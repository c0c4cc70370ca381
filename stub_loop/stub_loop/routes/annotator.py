"""Driving an annotation node as the Loop's annotation page does (stub only): a person's input, forwarded as
`handle_user_input` to a connected `annotation_node` of the project, answered with the node's acknowledgement.

The page at `/annotate` sends the same inputs over the stub's Socket.IO (`user_input`, `user_logout`); these routes
are the same for curl, tests and the bench.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from loop_shared.node_errors import ErrorDetail, error_responses

from ..annotator_hub import AnnotatorHub, AnnotatorTimeout, BadInput, NoAnnotatorError
from ..schemas import AnnotatorAck, AnnotatorList, LogoutRequest
from ..user_input import PageInput

router = APIRouter(tags=["annotator (stub only)"], responses=error_responses(400))  # 400: a body that is not JSON
REST_FRONTEND = "rest"  # the frontend_id of inputs sent without one: their history is shared


def _hub(request: Request) -> AnnotatorHub:
    hub: AnnotatorHub = request.app.state.annotators
    return hub


@router.post("/{org}/projects/{project}/annotator/input", response_model=AnnotatorAck, responses={
    **error_responses(404, 422, 503),
    502: {"model": ErrorDetail, "description": "The annotator answered something that is not an acknowledgement"},
    504: {"model": ErrorDetail, "description": "The annotator did not answer in time"}})
async def user_input(org: str, project: str, body: PageInput, request: Request) -> Any:
    """Forward one mouse or key event (a UserInput) to a connected annotation node of the project; its
    acknowledgement as it came (`success`, `error_msg`, `payload`: the SVG). 503 when none is connected."""
    hub = _hub(request)
    await asyncio.to_thread(hub.store.require_project, org, project)
    try:
        await asyncio.to_thread(hub.check_input, body, org, project)
    except BadInput as e:
        raise HTTPException(status_code=e.status, detail=str(e)) from e
    forwarded = {**body.model_dump(mode="json", exclude_unset=True), "frontend_id": body.frontend_id or REST_FRONTEND}
    try:
        ack = await hub.forward_input(forwarded)
    except NoAnnotatorError as e:
        raise HTTPException(status_code=503, detail=str(e)) from e
    except AnnotatorTimeout as e:
        raise HTTPException(status_code=504, detail=str(e)) from e
    return _acknowledged(ack)


def _acknowledged(ack: Any) -> JSONResponse:
    """The node's ack as it sent it (no model adds or drops a key); 502 when it is not one."""
    if not isinstance(ack, dict) or not isinstance(ack.get("success"), bool):
        raise HTTPException(status_code=502, detail=f"the annotator answered {ack!r:.200}, not an acknowledgement")
    return JSONResponse(ack)


@router.post("/{org}/projects/{project}/annotator/logout", response_model=AnnotatorAck, responses={
    **error_responses(404, 422),
    502: {"model": ErrorDetail, "description": "The annotator answered something that is not an acknowledgement"}})
async def user_logout(org: str, project: str, body: LogoutRequest, request: Request) -> Any:
    """Log a frontend out (`frontend_id`, default the one REST inputs share): the node that served it gets
    `user_logout` and forgets its drawing history. Its acknowledgement as it came, or success false when no node
    serves that frontend."""
    hub = _hub(request)
    await asyncio.to_thread(hub.store.require_project, org, project)
    return _acknowledged(await hub.forward_logout(body.frontend_id or REST_FRONTEND))


@router.get("/annotators")
def annotators(request: Request) -> AnnotatorList:
    """Connected annotation nodes and their last status (stub-only inspection)."""
    return AnnotatorList.model_validate({"annotators": _hub(request).annotators()})
