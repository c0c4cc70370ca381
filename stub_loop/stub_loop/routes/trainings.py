"""Trainings (start, inspect, stop, abort), the trainers' detection uploads, and detector statuses."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from loop_shared.loop_api import paths
from loop_shared.node_errors import error_responses
from loop_shared.schemas import Detections, DetectorStatus

from ..deps import LoggedIn, ReceivedDep, StoreDep, TrainingNumber, get_store
from ..schemas import (
    DetectionsReceived,
    DetectorList,
    StatusMessage,
    TrainerList,
    Training,
    TrainingAck,
    TrainingList,
)
from ..trainer_hub import NoTrainerError, TrainerHub

router = APIRouter(responses=error_responses(400, 401, 404, 409, 422))
log = logging.getLogger("stub.trainings")


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model_uuid: str | None = None
    model_variant: str = ""
    hyperparameters: dict[str, Any] | None = None
    trainer_id: str | None = None


def _hub(request: Request) -> TrainerHub:
    hub: TrainerHub = request.app.state.hub
    return hub


@router.post("/{org}/projects/{project}/trainings")
async def start_training(org: str, project: str, request: Request,
                         body: TrainingRequest | None = None) -> Training:
    """Send `begin_training` to a connected idle trainer of the project; 409 when there is none."""
    store = get_store(request)
    await asyncio.to_thread(store.require_project, org, project)
    body = body or TrainingRequest()
    if body.base_model_uuid:
        await asyncio.to_thread(store.model, org, project, body.base_model_uuid)
    try:
        return Training.model_validate(await _hub(request).begin_training(org, project, body.model_dump()))
    except NoTrainerError as e:
        raise HTTPException(status_code=409, detail=str(e)) from e


@router.get("/{org}/projects/{project}/trainings")
def trainings(org: str, project: str, store: StoreDep) -> TrainingList:
    """Every training with state, progress, metrics and resulting model (also as the Loop's `charts`)."""
    store.require_project(org, project)
    items = store.trainings(org, project)
    charts = [{"data": [{"model_id": t["model_id"], "training_number": t["number"]}
                        for t in reversed(items) if t["model_id"]]}]
    return TrainingList.model_validate({"trainings": items, "charts": charts})


@router.get("/{org}/projects/{project}/trainings/{number}")
def training(org: str, project: str, number: TrainingNumber, store: StoreDep) -> Training:
    return Training.model_validate(store.training(org, project, number))


@router.post("/{org}/projects/{project}/trainings/{number}/{action}")
async def control_training(org: str, project: str, number: TrainingNumber, action: str,
                           request: Request) -> TrainingAck:
    """`stop` (finish with the best model so far) or `abort` (discard it)."""
    if action not in ("stop", "abort"):
        raise HTTPException(status_code=404, detail=f"unknown action {action!r}: use stop or abort")
    store = get_store(request)
    record = await asyncio.to_thread(store.training, org, project, number)
    try:
        ack = await _hub(request).send_to_trainer(record, f"{action}_training")
    except NoTrainerError as e:
        raise HTTPException(status_code=409, detail=str(e)) from e
    if action == "abort":
        await asyncio.to_thread(store.update_training, record["id"], state="aborted")
    return TrainingAck(ack=ack)


@router.get("/trainers")
def trainers(request: Request) -> TrainerList:
    """Connected trainers and their last status (stub-only inspection)."""
    return TrainerList.model_validate({"trainers": _hub(request).trainers()})


@router.post(paths.DETECTIONS.template, dependencies=[LoggedIn])
def upload_detections(org: str, project: str, store: StoreDep, counts: ReceivedDep,
                      body: list[Any] = Body()) -> DetectionsReceived:
    """The trainer's detection pass: a JSON list of Detections with `image_id`, at most 100 per request."""
    store.require_project(org, project)
    if len(body) > 100:
        raise HTTPException(status_code=422, detail="at most 100 detections objects per request")
    try:
        items = [Detections.model_validate(d) for d in body]
    except ValidationError as e:
        raise HTTPException(status_code=422, detail=f"invalid detections: {e}") from e
    counts.detections(org, project, [item.image_id for item in items if item.image_id])  # repeats show here
    stored = 0
    for item in items:
        if not item.image_id:
            raise HTTPException(status_code=422, detail="every detections object needs an image_id")
        data = item.model_dump(mode="json", exclude={"image_id"})
        stored += store.set_detections(org, project, item.image_id, data)
    return DetectionsReceived(stored=stored, unknown_images=len(items) - stored)


@router.post(paths.DETECTOR_STATUS.template, dependencies=[LoggedIn])
def detector_status(org: str, project: str, status: DetectorStatus, store: StoreDep) -> StatusMessage:
    store.require_project(org, project)
    store.put_detector(org, project, status.model_dump(mode="json"))
    return StatusMessage(status="OK")


@router.get("/{org}/projects/{project}/detectors")
def detectors(org: str, project: str, store: StoreDep) -> DetectorList:
    store.require_project(org, project)
    return DetectorList.model_validate({"detectors": store.detectors(org, project)})
