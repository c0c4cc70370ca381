"""Moves a training through its steps (record.STEPS), persisting the state after each completed one.

A transient failure (Loop down, 5xx, timeouts, a crash of the training process, or any unexpected exception)
repeats the step after a capped exponential backoff; a PermanentError ends the training with the error reported.
Errors go to the Loop as one line; tracebacks of unexpected ones stay in the node's log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from loop_shared.backoff import Backoff
from loop_shared.errors import LoopError, ModelPackageError
from loop_shared.schemas import TrainerState
from loop_shared.tasks import TaskHealth, one_line

from .record import STEPS, TrainingRecord
from .runner import ChildFailed, ChildInterrupted
from .steps import PermanentError, Step, StepContext

log = logging.getLogger("trainer")
EXPECTED = (LoopError, ChildFailed, ChildInterrupted, OSError, ModelPackageError)  # logged without a traceback
TASK = "training"


class Trainee(Protocol):
    """What the runner reads and sets on the lifecycle it runs for."""

    record: TrainingRecord | None
    working_state: TrainerState | None
    progress: float | None

    def save(self) -> None: ...

    async def send_status(self) -> bool: ...


class StepRunner:
    def __init__(self, trainee: Trainee, steps: dict[str, Step], context: Callable[[TrainingRecord], StepContext],
                 health: TaskHealth, backoff: Callable[[], Backoff],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.trainee, self.steps, self.context, self.health = trainee, steps, context, health
        self._backoff, self._sleep = backoff, sleep

    async def run(self) -> None:
        """Until the record is ready for cleanup (or gone: an abort); cleaning up is the caller's."""
        backoff = self._backoff()
        trainee = self.trainee
        while (record := trainee.record) is not None and record.state != TrainerState.READY_FOR_CLEANUP:
            during, name, after = STEPS[record.state]
            trainee.working_state, trainee.progress = during, None
            await trainee.send_status()
            try:
                await self.steps[name](self.context(record))
            except PermanentError as e:
                log.error("training %s failed in %s: %s", record.id, name, e)
                record.errors[name] = str(e)
                record.failed = str(e)
                record.state = TrainerState.READY_FOR_CLEANUP
                trainee.save()
                return
            except Exception as e:  # transient, or a defect: either way the step is tried again later
                delay = backoff.next_delay()
                record.errors[name] = str(e) if isinstance(e, ChildFailed) else one_line(e)
                trainee.save()
                self.health.failed(TASK, record.errors[name])
                log.warning("step %s failed (%s); retrying in %.1f s", name, record.errors[name], delay,
                            exc_info=None if isinstance(e, EXPECTED) else e)
                trainee.working_state = None
                await trainee.send_status()
                await self._sleep(delay)
                continue
            self.health.ok(TASK)
            backoff.reset()
            record.errors.pop(name, None)
            record.state = after
            trainee.working_state = None
            trainee.save()
            log.info("training %s: %s done", record.id, name)
