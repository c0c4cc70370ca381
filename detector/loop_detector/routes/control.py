"""Control routes of the reference detector: about, model version, operation mode, outbox mode, logging."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from loop_shared.errors import LoopError
from loop_shared.node_errors import error_responses
from loop_shared.schemas import AboutResponse, ModelVersionResponse, OperationMode, OutboxMode

from ..deployment import Deployment, VersionError
from ..deps import DeploymentDep, OutboxDep
from ..errors import InputError
from ..schemas import OutboxBacklog

router = APIRouter(tags=["control"])
M = TypeVar("M", bound=StrEnum)


def text_body_schema(schema: dict[str, object]) -> dict[str, object]:
    """The `openapi_extra` of a route whose body is one plain-text value (read by `text_body`)."""
    return {"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string", **schema}}}}}


def one_of(kind: type[StrEnum]) -> dict[str, object]:
    return text_body_schema({"enum": [m.value for m in kind]})


async def text_body(request: Request) -> str:
    return (await request.body()).decode(errors="replace").strip().strip('"')


def parse_mode(kind: type[M], value: str, context: str = "") -> M:
    """`value` as a member of the mode enum `kind`, or a 422 saying it is none (REST and Socket.IO alike)."""
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"{context}'{value}' is not a valid {kind.__name__}") from None


def about_response(deployment: Deployment) -> AboutResponse:
    active = deployment.engine.active
    return AboutResponse(operation_mode=deployment.operation_mode.value, state="online",
                         model_info=deployment.model_info(),
                         target_model=deployment.target["version"] if deployment.target else None,
                         version_control=deployment.version_control.value,
                         model_format=active.format if active else None,
                         execution_provider=active.logic.execution_provider if active else None,
                         preferred_formats=deployment.formats, building=deployment.building)


@router.get("/about")
def about(deployment: DeploymentDep) -> AboutResponse:
    """Operation mode, the served model's model.json, the target version and the version-control mode; also the
    format and execution provider serving, the preferred formats, and the model being built (if any)."""
    return about_response(deployment)


@router.get("/model_version")
def get_model_version(deployment: DeploymentDep) -> ModelVersionResponse:
    return deployment.version_response()


@router.put("/model_version", responses=error_responses(400), openapi_extra=text_body_schema(
    {"pattern": r"^(follow_loop|pause|\d+\.\d+)$"}))
async def put_model_version(request: Request, deployment: DeploymentDep) -> str:
    """Body: `follow_loop`, `pause`, or a version such as `1.2` (kept across restarts)."""
    try:
        await deployment.set_version_mode(await text_body(request))
    except VersionError as e:
        raise HTTPException(status_code=400, detail=str(e)) from e
    except LoopError as e:
        raise HTTPException(status_code=400, detail=f"Failed to load models from learning loop: {e}") from e
    return "OK"


@router.get("/operation_mode", response_class=PlainTextResponse)
def get_operation_mode(deployment: DeploymentDep) -> str:
    return deployment.operation_mode.value


@router.put("/operation_mode", responses=error_responses(422), openapi_extra=one_of(OperationMode))
async def put_operation_mode(request: Request, deployment: DeploymentDep) -> str:
    """Body: `idle` (follow deployments) or `detecting` (no model updates); `startup` is set by the node."""
    await deployment.set_operation_mode(parse_mode(OperationMode, await text_body(request)))
    return "OK"


@router.get("/outbox_mode", response_class=PlainTextResponse)
def get_outbox_mode(outbox: OutboxDep) -> str:
    return outbox.mode.value


@router.get("/outbox")
def get_outbox(outbox: OutboxDep) -> OutboxBacklog:
    """The backlog: images waiting (priority, normal), bytes, the recent delivery rate (images/s) and the seconds
    it would take to deliver what waits at that rate (null while nothing goes out)."""
    return OutboxBacklog.model_validate(outbox.backlog())


@router.put("/outbox_mode", responses=error_responses(422), openapi_extra=one_of(OutboxMode))
async def put_outbox_mode(request: Request, outbox: OutboxDep) -> str:
    """Body: `continuous_upload`, `stopped`, or `metered` (only priority uploads go, e.g. on a metered link);
    returns once the upload in flight has been answered."""
    await outbox.set_mode(parse_mode(OutboxMode, await text_body(request), "Could not set outbox mode: "))
    return "OK"


@router.put("/debug_logging", responses=error_responses(400), openapi_extra=text_body_schema({"enum": ["on", "off"]}))
async def debug_logging(request: Request) -> str:
    value = await text_body(request)
    if value not in ("on", "off"):
        raise HTTPException(status_code=400, detail="Invalid state")
    logging.getLogger().setLevel(logging.DEBUG if value == "on" else logging.INFO)
    return value
