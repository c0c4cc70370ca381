"""Step `run_training`: the plugin trains in a child process; a crash is retried up to LOOP_MAX_CRASHES times."""

from __future__ import annotations

from ..runner import ChildFailed, ChildRefused
from .context import PermanentError, StepContext


async def run(ctx: StepContext) -> None:
    record = ctx.record
    job, job_file = ctx.paths.write_job(record)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        await ctx.run_child(["train", str(job_file)], job.training_dir / "training.log",
                            job.training_dir / "progress.jsonl")
    except ChildRefused as e:
        raise PermanentError(str(e)) from e
    except ChildFailed as e:
        record.crashes += 1
        ctx.save()
        if record.crashes >= ctx.settings.max_crashes:
            raise PermanentError(f"the training process crashed {record.crashes} times; last: {e}") from e
        raise
