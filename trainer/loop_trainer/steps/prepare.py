"""Step `prepare`: the ids and data of the project's complete images, and their files (kept between trainings)."""

from __future__ import annotations

import logging

from loop_shared.model_package import write_json_atomic

from ..downloader import Downloader
from .context import PermanentError, StepContext

log = logging.getLogger("trainer")
SPLITS = ("train", "val", "test")


async def run(ctx: StepContext) -> None:
    record = ctx.record
    tdir = ctx.training_dir
    tdir.mkdir(parents=True, exist_ok=True)
    downloader = Downloader(ctx.api, ctx.paths.images_dir(record), ctx.settings.download_concurrency)
    ids = await downloader.image_ids("complete")
    wanted = set(ids)
    data = [d for d in await downloader.image_data(ids, lambda p: ctx.set_progress(0.2 * p)) if d["id"] in wanted]
    corrupt, failed = await downloader.images(ids, lambda p: ctx.set_progress(0.2 + 0.8 * p))
    usable = [d for d in data if downloader.path(d["id"]).exists() and d.get("set") in SPLITS]
    record.dropped_corrupt, record.missing_images = corrupt, len(data) - len(usable) - corrupt
    record.image_count = len(usable)
    record.train_image_count = sum(d["set"] in ("train", "val") for d in usable)
    record.test_image_count = sum(d["set"] == "test" for d in usable)
    if record.train_image_count == 0:
        raise PermanentError(f"no usable training images in {record.organization}/{record.project}")
    write_json_atomic(tdir / "image_data.json", usable)
    log.info("training data: %d images (%d train, %d test), %d corrupt dropped, %d not downloadable",
             len(usable), record.train_image_count, record.test_image_count, corrupt, failed)
