"""Step `detecting`: the uploaded model, as the Loop serves it, detects on the project's images in a child process."""

from __future__ import annotations

import asyncio
import logging

from loop_shared.model_package import extract_package, write_json_atomic

from ..downloader import Downloader
from ..runner import ChildRefused
from .context import PermanentError, StepContext

log = logging.getLogger("trainer")
DETECTION_STATES = ("inbox", "annotate", "review", "complete")


async def run(ctx: StepContext) -> None:
    record = ctx.record
    tdir = ctx.training_dir
    if record.model_id is None:
        raise PermanentError("no uploaded model to detect with")
    model_dir = tdir / "detect_model"
    if not model_dir.exists():
        archive = await ctx.api.download_model(record.model_id, ctx.logic.model_format, tdir, "detect_model.zip")
        await asyncio.to_thread(extract_package, archive, model_dir)
        archive.unlink(missing_ok=True)
    downloader = Downloader(ctx.api, ctx.paths.images_dir(record), ctx.settings.download_concurrency)
    ids: list[str] = []
    for i, state in enumerate(DETECTION_STATES):
        ids.extend(await downloader.image_ids(state))
        ctx.set_progress(0.1 * (i + 1))
    await downloader.images(ids)
    images = [str(downloader.path(i)) for i in ids if downloader.path(i).exists()]
    write_json_atomic(tdir / "detect_images.json", images)
    _, job_file = ctx.paths.write_job(record)
    try:
        await ctx.run_child(["detect", str(job_file), str(model_dir), str(tdir / "detect_images.json"),
                             str(tdir / "detections.json")], tdir / "detect.log", tdir / "progress.jsonl")
    except ChildRefused as e:
        raise PermanentError(str(e)) from e
    record.detections_uploaded = 0
    log.info("detected on %d images", len(images))
