"""`POST /upload`: put images straight into the outbox for the Loop's inbox."""

from __future__ import annotations

from fastapi import APIRouter, Request

from loop_shared.node_errors import error_responses
from loop_shared.schemas import ImageMetadata

from .. import images
from ..deps import EngineDep
from ..engine import ImageInput, now_created
from .forms import multipart_body, read_files

router = APIRouter(tags=["upload"])


@router.post("/upload", openapi_extra=multipart_body("files", many=True),
             responses=error_responses(400, 413, 415, 422, 429, 507))
async def upload(request: Request, engine: EngineDep, source: str | None = None, creation_date: str | None = None,
                 upload_priority: bool = False) -> list[object]:
    """Queue images (repeated field `files`) for the Loop, tagged `picked_by_system`; answers `[200, "OK"]`.

    Query parameters as in the reference: `source`, `creation_date`, `upload_priority`. Every image is
    validated first; if one is not an image, nothing is queued. When the upload quota is used up, 429 (and the
    images from there on are not stored); priority uploads are never held back.
    """
    settings = engine.settings
    files = await read_files(request, "files", 1000, settings.max_image_bytes, settings.max_request_bytes)
    for data in files:
        await engine.run(images.check_encoded, data, settings.max_image_bytes, settings.max_image_pixels)
    for data in files:
        metadata = ImageMetadata(tags=["picked_by_system"], source=source, created=creation_date or now_created())
        await engine.run(engine.offer_upload, ImageInput(encoded=data), metadata, upload_priority)
    return [200, "OK"]
