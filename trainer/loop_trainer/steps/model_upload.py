"""Step `upload_model`: every format the plugin produced, once each; the Loop's answer names the model."""

from __future__ import annotations

import asyncio
import logging

from loop_shared.errors import LoopRefusedError
from loop_shared.names import UnsafeNameError, safe_name

from .context import PermanentError, StepContext

log = logging.getLogger("trainer")


async def run(ctx: StepContext) -> None:
    record = ctx.record
    files, metadata = await asyncio.to_thread(ctx.logic.model_files, ctx.paths.job(record))
    if not files:
        raise PermanentError("training produced no model files")
    model_json = {"categories": [c.model_dump(mode="json") for c in record.categories], **metadata}
    for fmt, paths in files.items():
        if fmt in record.uploaded_formats:
            continue
        try:
            stored = await ctx.api.upload_training_model(record.training_number, fmt, paths, model_json)
        except LoopRefusedError as e:  # a 4xx; 408, 429 and 5xx are LoopUnavailableError, tried again
            raise PermanentError(f"the Loop refused the {fmt} model: {e}") from e
        try:
            record.model_id = record.model_id or safe_name(stored.id, "model id")
        except UnsafeNameError as e:
            raise PermanentError(str(e)) from e
        record.uploaded_formats.append(fmt)
        ctx.save()
        log.info("uploaded the %s model of training %d (model %s)", fmt, record.training_number, record.model_id)
    if record.model_id is None:
        raise PermanentError("the model is uploaded, but the Loop never answered with its id")
