"""The detector's Socket.IO server at `/ws/socket.io`, with the reference detector's events and payloads.

Images travel as `{"format": "raw" | "jpeg", "bytes": <binary>, "dtype": "uint8", "shape": [h, w, c]}`.
Every handler answers with a dict; failures are `{"error": message}`, never an exception. Detections are answered
as JSON encoded in the inference thread (see `Encoded`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from engineio import json as engineio_json
from pydantic import ValidationError

from loop_shared.errors import LoopError
from loop_shared.schemas import (
    BoxDetection,
    ClassificationDetection,
    ImageMetadata,
    OutboxMode,
    PointDetection,
    SegmentationDetection,
)

from . import images
from .deployment import Deployment, VersionError
from .engine import Autoupload, DetectOptions, Engine, ImageInput, now_created
from .errors import DetectorError, InputError
from .outbox import Outbox
from .routes.control import about_response, parse_mode
from .routes.reload import reload_answer

log = logging.getLogger("detector.sio")
MAX_MESSAGE = 64 * 2**20


class Encoded:
    """An answer already encoded as JSON, in the inference thread by the answer's own pydantic serializer; the
    acknowledgement carries the text as it is. Given dicts, python-socketio walks them twice in the event loop, in
    Python, once looking for binary parts and once encoding them: 0.16 to 0.27 ms of the event loop's time (and
    GIL) for a segmentation answer of 6 polygons (67 points), 0.07 ms for the same network's 6 boxes; 0.005 ms
    now."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Json:
    """The json module of this server's packets: `Encoded` answers are written as they are."""

    loads = staticmethod(engineio_json.loads)

    @staticmethod
    def dumps(data: Any, **options: Any) -> str:
        if isinstance(data, list) and any(isinstance(item, Encoded) for item in data):
            return "[" + ",".join(item.text if isinstance(item, Encoded) else json.dumps(item, **options)
                                  for item in data) + "]"
        return json.dumps(data, **options)


class _Packet(socketio.packet.Packet):  # type: ignore[misc]
    json = _Json  # looking for binary parts, the packet sees an Encoded as a leaf: nothing to walk


Answer = dict[str, Any] | Encoded
Handler = Callable[..., Awaitable[Answer]]


def _image(data: Any, max_pixels: int) -> ImageInput:
    if not isinstance(data, dict) or not isinstance(data.get("bytes"), (bytes, bytearray)):
        raise InputError("could not parse image from data")
    fmt = data.get("format", "raw")
    if fmt == "jpeg":
        return ImageInput(encoded=bytes(data["bytes"]))
    if fmt != "raw":
        raise InputError(f"unknown image format: {fmt}")
    array = images.from_raw(bytes(data["bytes"]), str(data.get("dtype", "uint8")), data.get("shape"), max_pixels)
    return ImageInput(array=array)


def _options(data: dict[str, Any]) -> DetectOptions:
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError("tags must be a list of strings")
    return DetectOptions(camera_id=data.get("camera_id"), tags=tags, source=data.get("source"),
                         created=data.get("creation_date"), autoupload=Autoupload.parse(data.get("autoupload")))


def _safe(handler: Handler) -> Handler:
    async def run(*args: Any) -> Answer:
        try:
            return await handler(*args)
        except (DetectorError, VersionError, LoopError) as e:
            return {"error": str(e)}
        except Exception as e:
            log.exception("socket.io handler %s failed", handler.__name__)
            return {"error": f"{type(e).__name__}: {e}"}
    return run


def create_sio(engine: Engine, deployment: Deployment, outbox: Outbox) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode="asgi", max_http_buffer_size=MAX_MESSAGE, cors_allowed_origins="*",
                               serializer=_Packet)
    max_pixels = engine.settings.max_image_pixels

    def detect_json(raw_images: list[Any], options: DetectOptions) -> list[str]:
        """In an inference thread: parse the images, detect, and encode the answers as JSON."""
        inputs = [_image(d, max_pixels) for d in raw_images]
        return [m.model_dump_json() for m in engine.detect_sync(inputs, options)]

    async def detect(sid: str, data: Any) -> Encoded:
        if not isinstance(data, dict):
            raise InputError("could not parse image from data")
        [result] = await engine.run(detect_json, [data.get("image")], _options(data))
        return Encoded(result)

    async def batch_detect(sid: str, data: Any) -> Encoded:
        raw = data.get("images") if isinstance(data, dict) else None
        if not isinstance(raw, list) or not raw:
            raise InputError("could not parse images from data")
        return Encoded('{"items":[' + ",".join(await engine.run(detect_json, raw, _options(data))) + "]}")

    async def upload(sid: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InputError("could not parse image from data")
        image = _image(data.get("image"), max_pixels)
        try:
            metadata = ImageMetadata.model_validate(data.get("metadata") or {})
        except ValidationError as e:
            raise InputError(f"invalid metadata: {e}") from e
        active = engine.active
        if active is not None:
            ids = {c.name: c.id for c in active.info.categories}
            detections: list[BoxDetection | PointDetection | SegmentationDetection | ClassificationDetection] = [
                *metadata.box_detections, *metadata.point_detections, *metadata.segmentation_detections,
                *metadata.classification_detections]
            for det in detections:
                det.category_id = ids.get(det.category_name, "")
        metadata.tags.append("picked_by_system")
        metadata.created = metadata.created or now_created()
        if image.encoded is not None:  # validated as REST /upload does; JPEG bytes are queued as they are
            await engine.run(images.check_encoded, image.encoded, engine.settings.max_image_bytes, max_pixels)
        await engine.run(engine.offer_upload, image, metadata, bool(data.get("upload_priority")))
        return {"status": "OK"}

    async def info(sid: str, data: Any = None) -> dict[str, Any]:
        model = deployment.model_info()
        if model is None:
            return {"status": "No model loaded"}
        return model.model_dump(mode="json")

    async def about(sid: str, data: Any = None) -> dict[str, Any]:
        return about_response(deployment).model_dump(mode="json")

    async def get_model_version(sid: str, data: Any = None) -> dict[str, Any]:
        return deployment.version_response().model_dump()

    async def set_model_version_mode(sid: str, data: Any) -> dict[str, Any]:
        await deployment.set_version_mode(str(data))
        return {"status": "OK"}

    async def get_outbox_mode(sid: str, data: Any = None) -> dict[str, Any]:
        return {"outbox_mode": outbox.mode.value}

    async def set_outbox_mode(sid: str, data: Any) -> dict[str, Any]:
        await outbox.set_mode(parse_mode(OutboxMode, str(data)))
        return {"status": "OK"}

    async def soft_reload(sid: str, data: Any = None) -> dict[str, Any]:
        return (await reload_answer(deployment)).model_dump()

    for handler in (detect, batch_detect, upload, info, about, get_model_version, set_model_version_mode,
                    get_outbox_mode, set_outbox_mode, soft_reload):
        sio.on(handler.__name__, _safe(handler))
    return sio

