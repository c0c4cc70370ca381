"""`POST /detect` (drop-in for the reference detector) and `POST /detect/batch`: the hot path.

Both are served by a plain ASGI handler placed in front of the FastAPI app, so an inference request skips
FastAPI's middleware stack, routing and endpoint machinery (they cost more than the rest of the request handling
with a small model). Per request the event loop only reads the headers and the body and splits the multipart body
with byte operations; decoding, inference and JSON encoding happen together in one inference thread. Errors are
mapped by `errors.answer`, the same mapping the FastAPI routes use. FastAPI still describes both routes in
`/docs` and `/openapi.json` (see `OPENAPI_PATHS`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from loop_shared.schemas import ImagesMetadata

from ..engine import Autoupload, DetectOptions, Engine, ImageInput
from ..errors import MethodNotAllowedError, answer
from .forms import multipart_body, read_files

log = logging.getLogger("detector.detect")
MAX_BATCH = 256
HEADERS = [
    ("autoupload", "filtered (default: upload if relevant), all, or disabled"),
    ("camera-id", "groups images for the active-learning memory (camera_id is accepted too)"),
    ("tags", "comma-separated tags added to the result and to uploaded images"),
    ("source", "where the image comes from, e.g. a robot id"),
    ("creation-date", "when the image was taken (creation_date is accepted too)"),
]


def _operation(field: str, many: bool, summary: str, description: str, answer_text: str) -> dict[str, Any]:
    parameters = [{"name": name, "in": "header", "required": False, "description": text,
                   "schema": {"type": "string"}} for name, text in HEADERS]
    return {"post": {"tags": ["inference"], "summary": summary, "description": description,
                     "parameters": parameters, **multipart_body(field, many),
                     "responses": {"200": {"description": answer_text},
                                   "4XX": {"description": "`{\"detail\": message}`: what is wrong with the request"},
                                   "503": {"description": "no model loaded yet"}}}}


OPENAPI_PATHS = {
    "/detect": _operation(
        "file", False, "Detect",
        "Detect objects in one image (multipart field `file`).\n\n"
        "Example: `curl -F file=@image.jpg -H 'camera-id: front' localhost:8004/detect`.",
        "ImageMetadata: detections in original-image pixels"),
    "/detect/batch": _operation(
        "files", True, "Detect Batch",
        "Detect objects in several images (repeated multipart field `files`), answered in request order.",
        "{\"items\": [ImageMetadata, ...]} in request order"),
}


def parse_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def detect_options(headers: Mapping[str, str]) -> DetectOptions:
    # `camera_id`/`creation_date` with underscores are what the reference README shows; accept both spellings
    get = headers.get
    return DetectOptions(camera_id=get("camera-id") or get("camera_id"), tags=parse_tags(get("tags")),
                         source=get("source"), created=get("creation-date") or get("creation_date"),
                         autoupload=Autoupload.parse(get("autoupload")))


class DetectRoutes:
    """ASGI app serving `/detect` and `/detect/batch`; every other request goes on to `app`."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app, self.engine = app, engine
        self.routes = {"/detect": (self._single, "file", 1), "/detect/batch": (self._batch, "files", MAX_BATCH)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        run, field, max_files = route
        extra_headers: list[tuple[bytes, bytes]] = []
        try:
            if scope["method"] != "POST":
                extra_headers.append((b"allow", b"POST"))
                raise MethodNotAllowedError(f"{scope['method']} is not allowed here; use POST")
            request = Request(scope, receive)
            options = detect_options(request.headers)
            settings = self.engine.settings
            files = await read_files(request, field, max_files, settings.max_image_bytes, settings.max_request_bytes)
            status, body = 200, await self.engine.run(run, [ImageInput(encoded=f) for f in files], options)
        except ClientDisconnect:
            log.info("%s %s: the client went away before its request was complete", scope["method"], scope["path"])
            return
        except Exception as e:  # mapped to an answer in one place, as the FastAPI routes' errors are
            status, detail = answer(e, f"{scope['method']} {scope['path']}")
            body = json.dumps(detail).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *extra_headers]})
        await send({"type": "http.response.body", "body": body})

    # these run in an inference thread: detection and the JSON encoding of its answer
    def _single(self, inputs: list[ImageInput], options: DetectOptions) -> bytes:
        [metadata] = self.engine.detect_sync(inputs, options)
        return metadata.model_dump_json().encode()

    def _batch(self, inputs: list[ImageInput], options: DetectOptions) -> bytes:
        return ImagesMetadata(items=self.engine.detect_sync(inputs, options)).model_dump_json().encode()
