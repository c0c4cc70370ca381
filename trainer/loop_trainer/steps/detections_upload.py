"""Step `upload_detections`: the detections in batches; the count sent is saved after each, so none goes twice."""

from __future__ import annotations

import json
import logging

from loop_shared.schemas import Detections

from .context import StepContext

log = logging.getLogger("trainer")


async def run(ctx: StepContext) -> None:
    record = ctx.record
    items = [Detections.model_validate(d) for d in json.loads((ctx.training_dir / "detections.json").read_text())]
    size = ctx.settings.detection_batch_size
    for start in range(record.detections_uploaded, len(items), size):
        batch = items[start:start + size]
        await ctx.api.upload_detections(batch)
        record.detections_uploaded = start + len(batch)
        ctx.save()
        ctx.set_progress(record.detections_uploaded / max(1, len(items)))
    log.info("uploaded detections for %d images", len(items))
