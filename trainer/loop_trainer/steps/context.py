"""What every step gets: the record it advances, the Loop, the files, and the ways to report back.

A step is `async def run(ctx: StepContext) -> None`. It returns when its part is done (the runner then persists
the next state), raises PermanentError when the training cannot succeed, and raises anything else for a failure
worth trying again after a backoff. Steps save the record themselves when they made progress a restart must not
repeat (an uploaded format, an uploaded batch of detections).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from loop_shared.loop_api import LoopApi, ProjectApi

from ..logic import TrainerLogic
from ..record import TrainingRecord
from ..settings import TrainerSettings
from ..training_paths import TrainingPaths


class PermanentError(Exception):
    """The training cannot succeed; it ends with this message reported to the Loop."""


class ChildRunner(Protocol):
    async def __call__(self, args: list[str], log_path: Path, progress_path: Path) -> None:
        """Run the trainer plugin's child process (`python -m loop_trainer.child *args`) to its end; raises
        runner.ChildFailed, ChildRefused or ChildInterrupted. Its progress lines reach the lifecycle."""


@dataclass
class StepContext:
    settings: TrainerSettings
    logic: TrainerLogic
    loop: LoopApi
    paths: TrainingPaths
    record: TrainingRecord
    save: Callable[[], None]
    set_progress: Callable[[float | None], None]
    run_child: ChildRunner
    publish_metrics: Callable[[TrainingRecord], Awaitable[None]]  # LoopUnavailableError when it cannot

    @property
    def api(self) -> ProjectApi:
        """The Loop calls about the training's project."""
        return self.loop.project(self.record.organization, self.record.project)

    @property
    def training_dir(self) -> Path:
        return self.paths.training_dir(self.record)


Step = Callable[[StepContext], Awaitable[None]]
