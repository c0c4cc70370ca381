"""`POST /detect` (drop-in for the reference detector) and `POST /detect/batch`.

These are the hot path: headers are read straight from the request (documented for OpenAPI below) instead of
going through FastAPI's per-parameter validation, which costs more than the rest of the request handling.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from loop_shared.schemas import ImagesMetadata

from ..deps import engine_of
from ..engine import Autoupload, DetectOptions, ImageInput
from .forms import multipart_body, read_files

router = APIRouter(tags=["inference"])

HEADERS = [
    ("autoupload", "filtered (default: upload if relevant), all, or disabled"),
    ("camera-id", "groups images for the active-learning memory (camera_id is accepted too)"),
    ("tags", "comma-separated tags added to the result and to uploaded images"),
    ("source", "where the image comes from, e.g. a robot id"),
    ("creation-date", "when the image was taken (creation_date is accepted too)"),
]


def openapi(field: str, many: bool) -> dict[str, Any]:
    parameters = [{"name": name, "in": "header", "required": False, "description": text,
                   "schema": {"type": "string"}} for name, text in HEADERS]
    return {**multipart_body(field, many), "parameters": parameters}


def parse_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def detect_options(request: Request) -> DetectOptions:
    # `camera_id`/`creation_date` with underscores are what the reference README shows; accept both spellings
    h = request.headers
    return DetectOptions(camera_id=h.get("camera-id") or h.get("camera_id"), tags=parse_tags(h.get("tags")),
                         source=h.get("source"), created=h.get("creation-date") or h.get("creation_date"),
                         autoupload=Autoupload.parse(h.get("autoupload")))


@router.post("/detect", openapi_extra=openapi("file", many=False),
             responses={200: {"description": "ImageMetadata: detections in original-image pixels"}})
async def detect(request: Request) -> Response:
    """Detect objects in one image (multipart field `file`).

    Example: `curl -F file=@image.jpg -H 'camera-id: front' localhost:8004/detect`.
    """
    engine = engine_of(request)
    options = detect_options(request)
    data = (await read_files(request, "file", 1, engine.settings.max_image_bytes))[0]
    [metadata] = await engine.detect([ImageInput(encoded=data)], options)
    return Response(metadata.model_dump_json(), media_type="application/json")


@router.post("/detect/batch", openapi_extra=openapi("files", many=True),
             responses={200: {"description": "{\"items\": [ImageMetadata, ...]} in request order"}})
async def detect_batch(request: Request) -> Response:
    """Detect objects in several images (repeated multipart field `files`), answered in request order."""
    engine = engine_of(request)
    options = detect_options(request)
    files = await read_files(request, "files", 256, engine.settings.max_image_bytes)
    items = await engine.detect([ImageInput(encoded=f) for f in files], options)
    return Response(ImagesMetadata(items=items).model_dump_json(), media_type="application/json")
