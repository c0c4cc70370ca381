"""Step `download_model`: the base model the Loop named, unpacked into the training folder (none: nothing to do)."""

from __future__ import annotations

import asyncio

from loop_shared.errors import LoopResponseError, ModelPackageError
from loop_shared.model_package import extract_package

from .context import PermanentError, StepContext


async def run(ctx: StepContext) -> None:
    record = ctx.record
    if not record.base_model_uuid:
        return
    tdir = ctx.training_dir
    try:
        archive = await ctx.api.download_model(record.base_model_uuid, ctx.logic.model_format, tdir, "base_model.zip")
    except LoopResponseError as e:  # no such model or format (a 4xx): waiting will not bring it
        raise PermanentError(f"base model {record.base_model_uuid} cannot be downloaded: {e}") from e
    try:
        await asyncio.to_thread(extract_package, archive, tdir / "base_model", require_model_json=False)
    except ModelPackageError as e:
        raise PermanentError(f"base model package is unusable: {e}") from e
    finally:
        archive.unlink(missing_ok=True)
