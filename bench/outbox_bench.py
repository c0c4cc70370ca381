"""Outbox benchmark: a backlog of 1,000 images delivered to the stub Loop, and drained after the Loop returns."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import Outbox
from loop_detector.settings import DetectorSettings
from loop_shared.loop_client import LoopClient
from loop_shared.schemas import OutboxMode
from loop_shared.settings import load_settings

from .common import ORG, PASSWORD, USER
from .detector_bench import scene_jpeg

BACKLOG = 1000


async def _drain(outbox: Outbox, timeout: float = 600) -> float:
    started = time.monotonic()
    while outbox.depth():
        if time.monotonic() - started > timeout:
            raise TimeoutError("outbox not drained")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _run(work: Path, stub: Any) -> tuple[float, float, float]:
    settings = load_settings(DetectorSettings, host=f"127.0.0.1:{stub.port}", username=USER, password=PASSWORD,
                             organization=ORG, project="outbox", outbox_backoff_cap=5.0)
    client = LoopClient(settings)
    outbox = Outbox(work / "outbox", settings, client, DetectorMetrics())
    jpeg = scene_jpeg(640, 480)
    outbox.start()
    await outbox.set_mode(OutboxMode.STOPPED)
    started = time.monotonic()
    for i in range(BACKLOG):
        outbox.put(jpeg, {"tags": ["bench"], "source": f"item {i}"})
    put_rate = BACKLOG / (time.monotonic() - started)
    await outbox.set_mode(OutboxMode.CONTINUOUS_UPLOAD)
    delivered = BACKLOG / await _drain(outbox)
    # the Loop goes away, a backlog builds up, the Loop comes back
    stub.stop()
    for i in range(BACKLOG):
        outbox.put(jpeg, {"tags": ["bench"], "source": f"offline {i}"})
    await asyncio.sleep(3)
    stub.start()
    back = time.monotonic()
    await _drain(outbox)
    recovery = time.monotonic() - back
    await outbox.close()
    await client.close()
    return put_rate, delivered, recovery


def run(work: Path, loop: Any, stub: Any) -> str:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "outbox", "complete": 0})
    put_rate, delivered, recovery = asyncio.run(_run(work, stub))
    inbox = loop.get(f"/{ORG}/projects/outbox/data", params={"state": "inbox"}).json()["image_ids"]
    return "\n".join([
        "## Outbox", "",
        f"Backlog of {BACKLOG} images (640x480 JPEG) with batches of 20: accepted into the outbox at "
        f"{put_rate:.0f} images/s (each written atomically), delivered to the stub Loop at **{delivered:.0f} "
        f"images/s**. With the Loop down, {BACKLOG} more queued; after it came back the backlog was drained in "
        f"**{recovery:.1f} s** (backoff capped at 5 s here, 60 s by default). The Loop holds {len(inbox)} images: "
        f"{'none lost, none twice' if len(inbox) == 2 * BACKLOG else 'MISMATCH'}.", ""])
