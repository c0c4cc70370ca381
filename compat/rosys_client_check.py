"""Drive the field's robot client, rosys 0.37's `DetectorHardware`, against our running detector.

Run by `make compat` inside a throw-away venv that has only rosys installed (.venv-rosys); `compat/run_check.sh`
starts the stub Loop (seeded demo project, its model deployed) and our detector. Every call `DetectorHardware`
offers is made over its own Socket.IO client, once with raw images and once with JPEG images: detect,
batch_detect, upload with `state` and `created`, fetch_detector_info, fetch_model_version_info, set_model_version,
fetch_outbox_mode / set_outbox_mode and soft_reload. A call passes when it returns without an exception and its
result is right: detections equal to what our REST `/detect` answers for the same pixels, uploads counted on
arrival at the stub Loop (`/api/stats/received`) with their state and creation date, modes read back as set, a
reload seen as one more model swap in `/metrics`. Exits 1 if any check fails.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import cv2
import httpx
import numpy as np
import rosys
from nicegui import core
from rosys.rosys import Repeater
from rosys.vision import Autoupload, DetectorHardware, Image, ImageState, ImageTransmissionFormat
from rosys.vision.detections import Detections
from rosys.vision.image_processing import encode_image_as_jpeg

ORG, PROJECT = os.environ["LOOP_ORGANIZATION"], os.environ["LOOP_PROJECT"]
LOOP = f"http://{os.environ['LOOP_HOST']}/api"
DETECTOR_PORT = int(os.environ["COMPAT_DETECTOR_PORT"])
DETECTOR = f"http://localhost:{DETECTOR_PORT}"
CREATED = "2026-01-02T03:04:05.678000+00:00"
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}", flush=True)


class Failed(Exception):
    """A client call raised; already reported as a failed check."""


async def attempt(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run one client call; an exception is a failed check (printed with its cause), then raises Failed."""
    try:
        return await call()
    except Exception as e:
        cause = f" (cause: {type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ else ""
        check(name, False, f"raised {type(e).__name__}: {e}{cause}")
        raise Failed(name) from e


def boxes(detections: Detections | dict[str, Any] | None) -> list[tuple[Any, ...]]:
    """Comparable boxes of a rosys answer or of our REST answer."""
    if detections is None:
        return []
    if isinstance(detections, Detections):
        raw = [(b.category_name, b.x, b.y, b.width, b.height, b.confidence) for b in detections.boxes]
    else:
        raw = [(b["category_name"], b["x"], b["y"], b["width"], b["height"], b["confidence"])
               for b in detections["box_detections"]]
    return sorted((name, round(x), round(y), round(w), round(h), round(c, 3)) for name, x, y, w, h, c in raw)


async def rest_boxes(http: httpx.AsyncClient, image: Image, fmt: ImageTransmissionFormat) -> list[tuple[Any, ...]]:
    """What our REST /detect answers for the pixels the client sends: a lossless PNG for raw, the very JPEG bytes
    rosys encodes for JPEG."""
    if fmt == ImageTransmissionFormat.JPEG:
        body = encode_image_as_jpeg(image.array)
    else:
        body = cv2.imencode(".png", cv2.cvtColor(image.array, cv2.COLOR_RGB2BGR))[1].tobytes()
    response = await http.post(f"{DETECTOR}/detect", files={"file": body}, headers={"autoupload": "disabled"})
    response.raise_for_status()
    return boxes(response.json())


async def demo_images(loop: httpx.AsyncClient) -> list[Image]:
    """Two annotated images of the demo project, as the robot's camera would deliver them (RGB arrays)."""
    ids = (await loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "complete"})).json()["image_ids"]
    images = []
    for image_id in ids[:2]:
        jpeg = (await loop.get(f"/{ORG}/projects/{PROJECT}/images/{image_id}/main")).content
        image = Image.from_jpeg_bytes(jpeg, camera_id="compat-cam")
        if image is None:
            raise RuntimeError(f"demo image {image_id} does not decode")
        images.append(image)
    return images


async def arrivals(loop: httpx.AsyncClient) -> int:
    listing = (await loop.get("/stats/received", params={"organization": ORG, "project": PROJECT})).json()
    return sum(image["count"] for image in listing["images"])


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float = 60) -> bool:
    for _ in range(int(seconds / 0.2)):
        if await condition():
            return True
        await asyncio.sleep(0.2)
    return False


async def model_swaps(http: httpx.AsyncClient) -> float:
    for line in (await http.get(f"{DETECTOR}/metrics")).text.splitlines():
        if line.startswith("loop_detector_model_swaps_total "):
            return float(line.split()[1])
    raise RuntimeError("no loop_detector_model_swaps_total in /metrics")


async def detect_calls(client: DetectorHardware, fmt: ImageTransmissionFormat, images: list[Image],
                       http: httpx.AsyncClient) -> None:
    tag = fmt.value
    expected = [await rest_boxes(http, image, fmt) for image in images]
    single = await attempt(f"{tag}: detect", lambda: client.detect(images[0], lazy=False, tags=["compat"],
                                                                   source="rosys", creation_date=CREATED))
    check(f"{tag}: detect", single is not None and boxes(single) == expected[0],
          f"{len(boxes(single))} boxes, REST /detect on the same pixels: {len(expected[0])}")
    batch = await attempt(f"{tag}: batch_detect",
                          lambda: client.batch_detect(images, lazy=False, autoupload=Autoupload.DISABLED))
    check(f"{tag}: batch_detect", batch is not None and [boxes(d) for d in batch] == expected,
          f"{[len(boxes(d)) for d in batch or []]} boxes, REST: {[len(e) for e in expected]}")


async def upload_call(client: DetectorHardware, fmt: ImageTransmissionFormat, image: Image,
                      loop: httpx.AsyncClient) -> None:
    """upload is an emit, not a call: it passes when the image, with the detections the robot got for it, arrives
    at the Loop with its state and creation date."""
    tag, source = fmt.value, f"rosys-compat-{fmt.value}"
    await attempt(f"{tag}: detect before upload", lambda: client.detect(image, lazy=False,
                                                                         autoupload=Autoupload.DISABLED))
    before = await arrivals(loop)
    await attempt(f"{tag}: upload", lambda: client.upload(image, tags=["rosys"], source=source,
                                                          creation_date=CREATED, state=ImageState.REVIEW))
    stored: dict[str, Any] | None = None

    async def kept() -> bool:
        nonlocal stored
        stored = await uploaded_record(loop, source)
        return stored is not None

    await wait_for(kept)
    count = await arrivals(loop)
    sent = image.get_detections(client.name)
    detail = (f"arrivals at the Loop {before} -> {count}; kept with state {stored and stored['state']}, created "
              f"{stored and stored['created']}, {stored and len(stored['box_detections'])} boxes "
              f"(sent {sent and len(sent.boxes)})")
    check(f"{tag}: upload", stored is not None and count > before and stored["state"] == "review"
          and stored["created"] == CREATED and "rosys" in stored["tags"] and sent is not None
          and len(stored["box_detections"]) == len(sent.boxes), detail)


async def uploaded_record(loop: httpx.AsyncClient, source: str) -> dict[str, Any] | None:
    """The image the Loop keeps from the upload of `source` (to read the state and date it arrived with)."""
    ids = (await loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "review"})).json()["image_ids"]
    if not ids:
        return None
    data = (await loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(ids)})).json()["images"]
    return next((d for d in data if d.get("source") == source), None)


async def version_calls(client: DetectorHardware, tag: str) -> None:
    info = await attempt(f"{tag}: fetch_detector_info", client.fetch_detector_info)
    check(f"{tag}: fetch_detector_info", info.current_version is not None and len(info.categories) > 0
          and info.project == PROJECT, f"version {info.current_version}, {len(info.categories)} categories")
    versions = await attempt(f"{tag}: fetch_model_version_info", client.fetch_model_version_info)
    check(f"{tag}: fetch_model_version_info", versions.current_version == info.current_version
          and versions.version_control == "follow_loop", f"{versions}")
    for mode in ("pause", info.current_version, "follow_loop"):
        await attempt(f"{tag}: set_model_version {mode}", lambda mode=mode: client.set_model_version(mode))
        now = await attempt(f"{tag}: set_model_version {mode}", client.fetch_model_version_info)
        wanted = mode if mode in ("pause", "follow_loop") else "specific_version"
        check(f"{tag}: set_model_version {mode}", now.version_control == wanted,
              f"version_control read back: {now.version_control}")


async def outbox_calls(client: DetectorHardware, tag: str) -> None:
    for mode in ("stopped", "continuous_upload"):
        await attempt(f"{tag}: set_outbox_mode {mode}", lambda mode=mode: client.set_outbox_mode(mode))
        read = await attempt(f"{tag}: fetch_outbox_mode", client.fetch_outbox_mode)
        check(f"{tag}: set_outbox_mode {mode}, fetch_outbox_mode", read == mode, f"read back {read}")


async def reload_call(client: DetectorHardware, tag: str, http: httpx.AsyncClient) -> None:
    swaps = await model_swaps(http)
    await attempt(f"{tag}: soft_reload", client.soft_reload)
    check(f"{tag}: soft_reload", await model_swaps(http) == swaps + 1, "the model was built again and swapped in")


async def every_call(client: DetectorHardware, images: list[Image], loop: httpx.AsyncClient,
                     http: httpx.AsyncClient) -> None:
    """Each group stops at its first call that raises (reported); the next group runs regardless."""
    fmt = client.image_transmission_format
    shifted = Image.from_array(np.roll(images[0].array, 7 + len(fmt.value), axis=1))  # content not sent before
    for group in (lambda: detect_calls(client, fmt, images, http), lambda: upload_call(client, fmt, shifted, loop),
                  lambda: version_calls(client, fmt.value), lambda: outbox_calls(client, fmt.value),
                  lambda: reload_call(client, fmt.value, http)):
        try:
            await group()
        except Failed:
            continue


async def connected(clients: list[DetectorHardware]) -> bool:
    return all(c.is_connected for c in clients)


async def main() -> int:
    core.loop = asyncio.get_running_loop()
    clients = [DetectorHardware(port=DETECTOR_PORT, name=f"compat-{fmt.value}", image_transmission_format=fmt)
               for fmt in ImageTransmissionFormat]
    await rosys.startup()  # connects every DetectorHardware, as on a robot
    try:
        check("connect", await wait_for(lambda: connected(clients), 30), "raw and JPEG clients over Socket.IO")
        async with httpx.AsyncClient(base_url=LOOP, timeout=30) as loop, httpx.AsyncClient(timeout=60) as http:
            await loop.post("/login", data={"username": os.environ["LOOP_USERNAME"],
                                            "password": os.environ["LOOP_PASSWORD"]})
            images = await demo_images(loop)
            for client in clients:
                await every_call(client, images, loop, http)
    finally:
        for client in clients:
            await client.disconnect()
        # not rosys.shutdown(): outside its tests it SIGKILLs its own process a second later, the exit status too
        Repeater.stop_all()
    failed = [name for name, ok, _ in results if not ok]
    print(f"rosys {rosys.__version__}: "
          f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
