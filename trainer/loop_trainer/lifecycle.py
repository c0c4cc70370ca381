"""The training lifecycle: the current training's record and status, its run through the steps, its cleanup.

The steps themselves are one module each (steps/), run in order by step_runner.StepRunner; what the Loop asks
for arrives through socket_events.SocketEvents. Killing the node at any moment and starting it again continues
from the last completed step: downloaded images are kept, an uploaded format is not uploaded again, uploaded
detections are not re-sent.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loop_shared.backoff import Backoff
from loop_shared.loop_api import LoopApi
from loop_shared.loop_socket import LoopSocket
from loop_shared.names import is_safe_name
from loop_shared.schemas import Context, TrainerState, TrainingStatus
from loop_shared.tasks import TaskHealth, one_line, spawn

from .history import TrainingHistory
from .logic import TrainerLogic
from .record import TrainingRecord
from .runner import ChildProcess
from .settings import TrainerSettings
from .step_runner import StepRunner
from .steps import STEPS_BY_NAME, ChildRunner, PermanentError, StepContext
from .steps.metrics import MetricsPublisher
from .training_paths import TrainingPaths

__all__ = ["Lifecycle", "PermanentError", "status_loop"]
log = logging.getLogger("trainer")
Handler = Callable[..., Awaitable[Any]]


class Lifecycle:
    def __init__(self, settings: TrainerSettings, loop: LoopApi, logic: TrainerLogic, node_id: str, name: str,
                 health: TaskHealth, run_child: ChildRunner | None = None) -> None:
        self.settings, self.loop, self.logic, self.node_id, self.name = settings, loop, logic, node_id, name
        self.health = health
        self.paths = TrainingPaths(settings.data_dir)
        self.record = TrainingRecord.load(self.paths.record_file)
        if self.record is not None and not all(map(is_safe_name, (self.record.id, self.record.organization,
                                                                  self.record.project))):
            log.error("ignoring %s: it names an unusable training id, organization or project", self.paths.record_file)
            self.record = None
        self.history = TrainingHistory(settings.data_dir / "history.json")  # finished trainings, for pages
        self.socket: LoopSocket | None = None
        self.working_state: TrainerState | None = None
        self.progress: float | None = None
        self.child: ChildProcess | None = None
        self.metrics = MetricsPublisher(node_id, name, lambda: self.socket, self.save)
        self.runner = StepRunner(self, STEPS_BY_NAME, self.context, health,
                                 lambda: Backoff(settings.retry_base, settings.retry_cap))
        self._run_child = run_child or self._run_child_process
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._aborting = False

    def save(self) -> None:
        if self.record is not None:
            self.record.save(self.paths.record_file)

    def context(self, record: TrainingRecord) -> StepContext:
        return StepContext(settings=self.settings, logic=self.logic, loop=self.loop, paths=self.paths, record=record,
                           save=self.save, set_progress=self._set_progress, run_child=self._run_child,
                           publish_metrics=self.metrics.publish)

    def _set_progress(self, progress: float | None) -> None:
        self.progress = progress

    # status --------------------------------------------------------------------------------------------------
    @property
    def state(self) -> TrainerState:
        if self.record is None:
            return TrainerState.IDLE
        return self.working_state or self.record.state

    def status(self) -> TrainingStatus:
        record = self.record
        return TrainingStatus(
            id=self.node_id, name=self.name, state=self.state.value,
            uptime=time.time() - record.start_time if record else None,
            errors=dict(record.errors) if record else {}, progress=self.progress if record else None,
            pretrained_models=list(self.logic.pretrained_models), architecture=self.logic.architecture,
            context=Context(organization=record.organization, project=record.project) if record else None)

    async def send_status(self) -> bool:
        """Send `update_trainer`; returns whether it went out (failures are logged, never raised)."""
        if self.socket is None or not self.socket.connected:
            return False
        try:
            await self.socket.call("update_trainer", self.status().model_dump(mode="json"), timeout=30)
        except Exception as e:  # socketio raises its own TimeoutError and BadNamespaceError types
            log.warning("could not send the trainer status: %s", one_line(e))
            return False
        return True

    # running -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = spawn("training", self._run, self.health)

    def start_if_pending(self) -> None:
        if self.record is not None and not self._aborting:
            log.info("resuming training %s from state %s", self.record.id, self.record.state.value)
            self.start()

    async def shutdown(self) -> None:
        """Node shutdown: stop the child, keep the record so the training resumes on the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def abort(self) -> None:
        """Discard the training under way (its child is stopped), then take up a pending one."""
        self._aborting = True
        await self.shutdown()
        await self.cleanup()
        self._aborting = False
        self.start_if_pending()

    async def _run(self) -> None:
        await self.runner.run()
        await self.cleanup()

    async def cleanup(self) -> None:
        record = self.record
        if record is None:
            return
        self.working_state = TrainerState.READY_FOR_CLEANUP
        await self.send_status()  # the last status that still carries errors and context
        await self.history.remember(record, aborted=self._aborting)
        shutil.rmtree(self.paths.training_dir(record), ignore_errors=True)
        self.paths.record_file.unlink(missing_ok=True)
        self.record, self.working_state, self.progress = None, None, None
        log.info("training %s cleaned up%s", record.id, f" (failed: {record.failed})" if record.failed else "")
        await self.send_status()

    # the child process ---------------------------------------------------------------------------------------
    async def _run_child_process(self, args: list[str], log_path: Path, progress_path: Path) -> None:
        self.child = ChildProcess(self.settings.trainer_logic, log_path, progress_path)
        try:
            await self.child.run(args, self.on_report)
        finally:
            self.child = None

    def on_report(self, report: dict[str, Any]) -> None:
        """A progress line of the child: progress, an epoch's figures, or a new best (published at once)."""
        if "progress" in report:
            self.progress = float(report["progress"])
            if "epoch" in report and self.record is not None:  # an epoch repeated after a resume replaces its twin
                entry = {k: v for k, v in report.items() if k != "progress"}
                self.record.history = [h for h in self.record.history if h.get("epoch") != entry["epoch"]] + [entry]
                self.save()
        if "confusion_matrix" in report and self.record is not None:
            self.record.best_metrics = report
            self.save()
            task = asyncio.get_running_loop().create_task(self._publish_quietly(self.record))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _publish_quietly(self, record: TrainingRecord) -> None:
        """During training: publish a new best; a failure is retried by the sync step after training."""
        try:
            await self.metrics.publish(record)
        except Exception as e:
            log.warning("could not publish metrics yet: %s", e)


async def status_loop(lifecycle: Lifecycle, interval: float) -> None:
    while True:
        if await lifecycle.send_status():
            lifecycle.health.ok("status")
        else:
            lifecycle.health.failed("status", "not connected to the Loop, or update_trainer failed")
        await asyncio.sleep(interval)
