"""`POST /detect` (drop-in for the reference detector) and `POST /detect/batch`: the hot path.

Both are served by a plain ASGI handler placed in front of the FastAPI app, so an inference request skips
FastAPI's middleware stack, routing and endpoint machinery (they cost more than the rest of the request handling
with a small model). Per request the event loop only reads the headers and the body and splits the multipart body
with byte operations; decoding, inference and JSON encoding happen together in one inference thread. Errors are
mapped by `errors.answer`, the same mapping the FastAPI routes use. FastAPI still describes both routes in
`/docs` and `/openapi.json` (see `OPENAPI_PATHS`). `POST /detect?draw=true` answers the image with its detections
drawn (JPEG, see drawing.py) instead of JSON; the image is decoded once for both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from loop_shared.schemas import ImagesMetadata

from .. import images
from ..drawing import drawn_jpeg
from ..engine import Autoupload, DetectOptions, Engine, ImageInput
from ..errors import InputError, MethodNotAllowedError, answer
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
HEADER_SCHEMAS = {"autoupload": {"type": "string", "enum": [a.value for a in Autoupload]}}


DRAW_PARAMETER = {"name": "draw", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
                  "description": "`true`: answer the image with the detections drawn (JPEG) instead of JSON"}
JSON, JPEG = b"application/json", b"image/jpeg"


def _operation(field: str, many: bool, summary: str, description: str, answer_text: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": name, "in": "header", "required": False, "description": text,
                                         "schema": HEADER_SCHEMAS.get(name, {"type": "string"})}
                                        for name, text in HEADERS]
    if not many:
        parameters.append(DRAW_PARAMETER)
    return {"post": {"tags": ["inference"], "summary": summary, "description": description,
                     "parameters": parameters, **multipart_body(field, many),
                     "responses": {"200": {"description": answer_text},
                                   "4XX": {"description": "`{\"detail\": message}`: what is wrong with the request"},
                                   "503": {"description": "no model loaded yet"}}}}


OPENAPI_PATHS = {
    "/detect": _operation(
        "file", False, "Detect",
        "Detect objects in one image (multipart field `file`).\n\n"
        "Example: `curl -F file=@image.jpg -H 'camera-id: front' localhost:8004/detect`; with `?draw=true` the "
        "answer is the image with the detections drawn: `curl -F file=@image.jpg 'localhost:8004/detect?draw=true' "
        "-o drawn.jpg`.",
        "ImageMetadata: detections in original-image pixels (`image/jpeg` with `draw=true`)"),
    "/detect/batch": _operation(
        "files", True, "Detect Batch",
        "Detect objects in several images (repeated multipart field `files`), answered in request order.",
        "{\"items\": [ImageMetadata, ...]} in request order"),
}


def parse_tags(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def wants_drawing(query_string: bytes) -> bool:
    """The `draw` query parameter, a boolean as its schema says: `true` or `false` (absent: false)."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("draw", [])
    value = values[-1] if values else "false"
    if value not in ("true", "false"):
        raise InputError(f"draw must be true or false, not {value[:20]!r}")
    return value == "true"


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
        content_type = JSON
        try:
            if scope["method"] != "POST":
                extra_headers.append((b"allow", b"POST"))
                raise MethodNotAllowedError(f"{scope['method']} is not allowed here; use POST")
            if wants_drawing(scope.get("query_string", b"")):
                if max_files != 1:
                    raise InputError("draw=true answers one image; use POST /detect")
                run, content_type = self._drawn, JPEG
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
            body, content_type = json.dumps(detail).encode(), JSON
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type),
                                (b"content-length", str(len(body)).encode()), *extra_headers]})
        await send({"type": "http.response.body", "body": body})

    # these run in an inference thread: detection and the JSON encoding of its answer
    def _single(self, inputs: list[ImageInput], options: DetectOptions) -> bytes:
        [metadata] = self.engine.detect_sync(inputs, options)
        return metadata.model_dump_json().encode()

    def _drawn(self, inputs: list[ImageInput], options: DetectOptions) -> bytes:
        """Detect, then draw onto the decoded image: decoded once, kept as sent for the outbox."""
        settings = self.engine.settings
        [image] = inputs
        assert image.encoded is not None
        array = images.decode(image.encoded, settings.max_image_bytes, settings.max_image_pixels)
        [metadata] = self.engine.detect_sync([ImageInput(encoded=image.encoded, array=array)], options)
        active = self.engine.active
        colours = {c.name: c.color or "" for c in active.info.categories} if active else {}
        return drawn_jpeg(array, metadata, colours)

    def _batch(self, inputs: list[ImageInput], options: DetectOptions) -> bytes:
        return ImagesMetadata(items=self.engine.detect_sync(inputs, options)).model_dump_json().encode()
