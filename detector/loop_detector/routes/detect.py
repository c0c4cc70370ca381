"""`POST /detect` (drop-in for the reference detector) and `POST /detect/batch`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from loop_shared.schemas import ImagesMetadata

from ..deps import EngineDep
from ..engine import Autoupload, DetectOptions, ImageInput
from .forms import multipart_body, read_files

router = APIRouter(tags=["inference"])


def parse_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def detect_options(request: Request, autoupload: str | None, camera_id: str | None, tags: str | None,
                   source: str | None, creation_date: str | None) -> DetectOptions:
    # `camera_id`/`creation_date` with underscores are what the reference README shows; accept both spellings
    return DetectOptions(camera_id=camera_id or request.headers.get("camera_id"), tags=parse_tags(tags),
                         source=source, created=creation_date or request.headers.get("creation_date"),
                         autoupload=Autoupload.parse(autoupload))


Hdr = Annotated[str | None, Header()]


@router.post("/detect", openapi_extra=multipart_body("file", many=False),
             responses={200: {"description": "ImageMetadata: detections in original-image pixels"}})
async def detect(request: Request, engine: EngineDep, autoupload: Hdr = None, camera_id: Hdr = None,
                 tags: Hdr = None, source: Hdr = None, creation_date: Hdr = None) -> Response:
    """Detect objects in one image (multipart field `file`).

    Headers: `autoupload` (filtered | all | disabled), `camera-id`, `tags` (comma-separated), `source`,
    `creation-date`. Example: `curl -F file=@image.jpg localhost:8004/detect`.
    """
    options = detect_options(request, autoupload, camera_id, tags, source, creation_date)
    data = (await read_files(request, "file", max_files=1))[0]
    [metadata] = await engine.detect([ImageInput(encoded=data)], options)
    return Response(metadata.model_dump_json(), media_type="application/json")


@router.post("/detect/batch", openapi_extra=multipart_body("files", many=True),
             responses={200: {"description": "{\"items\": [ImageMetadata, ...]} in request order"}})
async def detect_batch(request: Request, engine: EngineDep, autoupload: Hdr = None, camera_id: Hdr = None,
                       tags: Hdr = None, source: Hdr = None, creation_date: Hdr = None) -> Response:
    """Detect objects in several images (repeated multipart field `files`), answered in request order."""
    options = detect_options(request, autoupload, camera_id, tags, source, creation_date)
    files = await read_files(request, "files", max_files=256)
    items = await engine.detect([ImageInput(encoded=f) for f in files], options)
    return Response(ImagesMetadata(items=items).model_dump_json(), media_type="application/json")
