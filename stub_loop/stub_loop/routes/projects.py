"""Projects, the generator, and image data: what trainers download and what detectors upload."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Annotated, Literal, get_args
from urllib.parse import unquote

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from loop_shared.loop_api import ImageIds, ImageList, ProjectList, paths
from loop_shared.node_errors import error_responses
from loop_shared.schemas import ImageMetadata

from ..deps import LoggedIn, StoreDep, get_received, get_store
from ..project_factory import GeneratorRequest, generate_project
from ..schemas import GeneratedProject, ImagesReceived, ProjectInfo, StatusMessage, files_body
from ..store import NotFound, now_iso

router = APIRouter(responses=error_responses(400, 401, 404, 422))
log = logging.getLogger("stub.projects")
ImageState = Literal["inbox", "annotate", "review", "complete", "trash"]
IMAGE_STATES = set(get_args(ImageState))


class GeneratorBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # strict: `false` is not a count of images

    project_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    inbox: int = Field(0, ge=0, le=5000)
    annotate: int = Field(0, ge=0, le=5000)
    review: int = Field(0, ge=0, le=5000)
    complete: int = Field(0, ge=0, le=5000)
    box_categories: int = Field(2, ge=0)
    point_categories: int = Field(0, ge=0)
    segmentation_categories: int = Field(0, ge=0)
    classification_categories: int = Field(0, ge=0)
    box_annotations: int = Field(0, ge=0, le=20)
    box_detections: int = Field(0, ge=0, le=100)
    image_width: int = Field(320, ge=64, le=4096)
    image_height: int = Field(240, ge=64, le=4096)
    test_fraction: float = Field(0.2, ge=0, le=1)
    seed: int = 0
    difficulty: Literal["easy", "hard"] = "easy"
    empty_images: int = Field(0, ge=0, le=5000)


@router.post("/{org}/projects/generator")
def generator(org: str, body: GeneratorBody, store: StoreDep) -> GeneratedProject:
    """Create (or re-create) a project of synthetic images with exact annotations."""
    try:
        generated = generate_project(store, org, GeneratorRequest(**body.model_dump()))
    except ValueError as e:
        raise HTTPException(status_code=422, detail=str(e)) from e
    return GeneratedProject.model_validate(generated)


@router.get(paths.PROJECTS.template, dependencies=[LoggedIn])
def projects(store: StoreDep) -> ProjectList:
    return ProjectList.model_validate({"projects": [{"organization_id": o, "project_id": p,
                                                     "resource": f"/{o}/projects/{p}"} for o, p in store.projects()]})


@router.get("/{org}/projects/{project}", dependencies=[LoggedIn])
def project(org: str, project: str, store: StoreDep) -> ProjectInfo:
    store.require_project(org, project)
    return ProjectInfo.model_validate({"id": project, "organization": org,
                                      "categories": store.categories(org, project)})


@router.delete("/{org}/projects/{project}")
def delete_project(org: str, project: str, store: StoreDep, keep_images: bool = False) -> StatusMessage:
    store.require_project(org, project)
    store.delete_project(org, project, keep_images=keep_images)
    return StatusMessage(status="deleted")


@router.get(paths.IMAGE_IDS.template, dependencies=[LoggedIn])
def data(org: str, project: str, store: StoreDep, state: ImageState | None = None) -> ImageIds:
    """Image ids of the project, optionally of one state (inbox, annotate, review, complete)."""
    store.require_project(org, project)
    return ImageIds(image_ids=store.image_ids(org, project, state))


@router.get(paths.IMAGE_DATA.template, dependencies=[LoggedIn])
def images(org: str, project: str, store: StoreDep,
           ids: Annotated[str, Query(description="comma-separated image ids")] = "") -> ImageList:
    store.require_project(org, project)
    wanted = [i for i in ids.split(",") if i]
    if len(wanted) > 1000:
        raise HTTPException(status_code=422, detail="at most 1000 ids per request")
    return ImageList.model_validate({"images": store.images(org, project, wanted)})


@router.get(paths.IMAGE_FILE.template, dependencies=[LoggedIn])
def image_main(org: str, project: str, image_id: str, store: StoreDep) -> FileResponse:
    if not store.image_in_project(org, project, image_id):
        raise NotFound(f"image {image_id} does not exist in {org}/{project}")
    return FileResponse(store.image_path(image_id), media_type="image/jpeg")


def _decode_size(jpeg: bytes) -> tuple[int, int] | None:
    array = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return None if array is None else (array.shape[1], array.shape[0])


def _pair_uploads(files: list[UploadFile]) -> dict[str, dict[str, UploadFile]]:
    pairs: dict[str, dict[str, UploadFile]] = {}
    for part in files:
        name = unquote(part.filename or "")
        stem, dot, ext = name.rpartition(".")
        if not dot or ext.lower() not in ("json", "jpg", "jpeg"):
            raise HTTPException(status_code=422, detail=f"unexpected part {name!r}: send image_<id>.json and "
                                "image_<id>.jpg pairs")
        pairs.setdefault(stem, {})["json" if ext.lower() == "json" else "jpg"] = part
    return pairs


@router.post(paths.IMAGE_UPLOAD.template, openapi_extra=files_body("image_<id>.json and image_<id>.jpg pairs"))
async def upload_images(org: str, project: str, request: Request) -> ImagesReceived:
    """The detectors' outbox target: repeated multipart `files`, a JSON part and a JPEG part per image.

    Any broken item makes the whole batch 422, as the Loop does; images already received (same file stem and
    content) are acknowledged but not stored twice. Every arrival is counted first (`GET /api/stats/received`).
    """
    store = get_store(request)
    await asyncio.to_thread(store.require_project, org, project)
    form = await request.form(max_files=10_000, max_fields=10_000)
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise HTTPException(status_code=422, detail="no 'files' parts in the request")
    pairs = {stem: {kind: await part.read() for kind, part in pair.items()}
             for stem, pair in _pair_uploads(files).items()}
    # counted as they arrived, before anything is refused or recognised as known: a repeat shows here
    arrived = [(stem.removeprefix("image_"), hashlib.sha256(pair.get("jpg", b"")).hexdigest())
               for stem, pair in pairs.items()]
    await asyncio.to_thread(get_received(request).image_parts, org, project, arrived)
    stored = duplicates = 0
    items = []
    for stem, pair in pairs.items():
        if set(pair) != {"json", "jpg"}:
            raise HTTPException(status_code=422, detail=f"{stem}: needs both a .json and a .jpg part")
        try:
            metadata = ImageMetadata.model_validate(json.loads(pair["json"]))
        except (ValueError, ValidationError) as e:
            raise HTTPException(status_code=422, detail=f"{stem}.json is not valid image metadata: {e}") from e
        jpeg = pair["jpg"]
        size = await asyncio.to_thread(_decode_size, jpeg)
        if size is None:
            raise HTTPException(status_code=422, detail=f"{stem}.jpg is not a decodable image")
        items.append((stem, metadata, jpeg, size))
    for stem, metadata, jpeg, (width, height) in items:
        state = metadata.state if metadata.state in IMAGE_STATES else "inbox"
        record = {**metadata.model_dump(mode="json", exclude={"image_size", "state"}), "state": state,
                  "set": None, "width": width, "height": height, "created": metadata.created or now_iso(),
                  "segmentation_annotations": [], "uploaded_as": stem}
        key = f"{stem}#{hashlib.sha256(jpeg).hexdigest()[:16]}"  # two detectors may pick the same identifier
        _, created = await asyncio.to_thread(store.add_image, org, project, jpeg, record, key)
        stored, duplicates = stored + created, duplicates + (not created)
    log.info("received %d images for %s/%s (%d already known)", stored, org, project, duplicates)
    return ImagesReceived(stored=stored, duplicates=duplicates)
