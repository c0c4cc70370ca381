"""Models: listing, download, upload (by users, trainers and converters) and the deployment target."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from loop_shared.loop_api import DeploymentTarget, LoopModel, ModelList, UploadedModel, paths
from loop_shared.node_errors import error_responses

from ..deps import LoggedIn, StoreDep, TrainingNumber, get_received, get_settings, get_store, public_host
from ..packages import check_format, store_model_format
from ..schemas import files_body
from ..store import Conflict, NotFound, Store

router = APIRouter(responses=error_responses(400, 401, 404, 409, 422))
# mounted last: its catch-all path would shadow the others
upload_router = APIRouter(responses=error_responses(404, 422))
log = logging.getLogger("stub.models")
MODEL_FILES = files_body("the model package: a zip, or its files")


def _listing(store: Store, org: str, project: str, host: str, fmt: str | None) -> list[dict[str, Any]]:
    return [{**m, "host": host} for m in store.models(org, project) if fmt is None or fmt in m["formats"]]


@router.get(paths.MODELS.template)
def models(org: str, project: str, request: Request, store: StoreDep, format: str | None = None) -> ModelList:
    """Models of the project; with `?format=` only those available in that format."""
    store.require_project(org, project)
    return ModelList.model_validate({"models": _listing(store, org, project, public_host(request), format)})


@router.get(paths.MODEL_FILE.template)
def model_file(org: str, project: str, model_id: str, fmt: str, store: StoreDep) -> FileResponse:
    """A model package: a flat zip with an enriched model.json (no login needed, as on the Loop)."""
    model = store.model(org, project, model_id)
    if fmt not in model["formats"]:
        raise NotFound(f"model {model_id} has no format {fmt!r} (it has {model['formats']})")
    filename = f"{project}_{model['version']}_{fmt}.zip"
    return FileResponse(store.model_file(model_id, fmt), media_type="application/zip", filename=filename)


async def _store_upload(request: Request, org: str, project: str, model: dict[str, Any], fmt: str) -> None:
    store, settings = get_store(request), get_settings(request)
    form = await request.form(max_files=1000)
    parts = [(f.filename or "file", f.file) for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not parts:
        raise HTTPException(status_code=422, detail="no 'files' parts in the request")
    await asyncio.to_thread(store_model_format, store, org, project, model, fmt, parts, public_host(request),
                            settings.stub_max_upload_mb * 2**20)
    log.info("stored %s/%s model %s (version %s) in format %s", org, project, model["id"], model["version"], fmt)


@router.put(paths.MODEL_FORMAT_UPLOAD.template, dependencies=[LoggedIn], openapi_extra=MODEL_FILES)
async def upload_model_format(org: str, project: str, model_id: str, fmt: str, request: Request) -> UploadedModel:
    """Add a format to an existing model (what converters do); 409 if that format is already stored."""
    store = get_store(request)
    await asyncio.to_thread(get_received(request).model_format, org, project, model_id, fmt)
    model = await asyncio.to_thread(store.model, org, project, model_id)
    await _store_upload(request, org, project, model, fmt)
    return UploadedModel(id=model_id)


@router.put(paths.TRAINING_MODEL_UPLOAD.template, dependencies=[LoggedIn], openapi_extra=MODEL_FILES)
async def upload_training_model(org: str, project: str, number: TrainingNumber, fmt: str,
                                request: Request) -> UploadedModel:
    """A trainer's new model: the first format creates the model version, later formats join it."""
    store = get_store(request)
    training = await asyncio.to_thread(store.training, org, project, number)
    if training["model_id"]:
        model = await asyncio.to_thread(store.model, org, project, training["model_id"])
        await asyncio.to_thread(get_received(request).model_format, org, project, model["id"], fmt)
        if fmt in model["formats"]:
            raise Conflict(f"training {number} already uploaded format {fmt}", {"id": model["id"]})
    else:
        check_format(fmt)
        model = await asyncio.to_thread(store.new_model, org, project, f"training {number}", number)
        await asyncio.to_thread(store.update_training, training["id"], model_id=model["id"])
        await asyncio.to_thread(get_received(request).model_format, org, project, model["id"], fmt)
    await _store_upload(request, org, project, model, fmt)
    return UploadedModel(id=model["id"])


@router.get(paths.DEPLOYMENT_TARGET.template, dependencies=[LoggedIn])
def deployment_target(org: str, project: str, store: StoreDep) -> DeploymentTarget:
    """What detectors following the Loop should run."""
    store.require_project(org, project)
    model = store.deployment(org, project)
    if model is None:
        raise NotFound(f"no deployment target set for {org}/{project}")
    return DeploymentTarget(model_uuid=model["id"], version=model["version"])


@router.put(paths.DEPLOYMENT_TARGET.template)  # by people and tests; nodes only read it
def set_deployment_target(org: str, project: str, store: StoreDep,
                          body: dict[str, str] = Body(examples=[{"version": "1.0"}])) -> DeploymentTarget:
    """Set the deployment target by `{"version": ...}` or `{"model_uuid": ...}`."""
    store.require_project(org, project)
    if "model_uuid" in body:
        model = store.model(org, project, body["model_uuid"])
    elif "version" in body:
        matches = [m for m in store.models(org, project) if m["version"] == body["version"]]
        if not matches:
            raise NotFound(f"no model with version {body['version']!r} in {org}/{project}")
        model = matches[0]
    else:
        raise HTTPException(status_code=422, detail="send {\"version\": \"1.0\"} or {\"model_uuid\": \"...\"}")
    store.set_deployment(org, project, model["id"])
    log.info("deployment target of %s/%s is now %s", org, project, model["version"])
    return DeploymentTarget(model_uuid=model["id"], version=model["version"])


@upload_router.post("/{org}/projects/{project}/{fmt}", openapi_extra=MODEL_FILES)
async def upload_new_model(org: str, project: str, fmt: str, request: Request,
                           comment: str | None = None) -> LoopModel:
    """Upload a model zip (`files=@model.zip`) in a format; it becomes the project's next model version."""
    store = get_store(request)
    await asyncio.to_thread(store.require_project, org, project)
    check_format(fmt)
    model = await asyncio.to_thread(store.new_model, org, project, comment or "uploaded")
    await asyncio.to_thread(get_received(request).model_format, org, project, model["id"], fmt)
    try:
        await _store_upload(request, org, project, model, fmt)
    except BaseException:
        await asyncio.to_thread(store.delete_model, org, project, model["id"])
        raise
    stored = await asyncio.to_thread(store.model, org, project, model["id"])
    return LoopModel.model_validate({**stored, "host": public_host(request)})
