"""The training lifecycle: the reference trainer's state machine, persisted after every step, resumable.

Each step moves the persisted state from one completed state to the next (see record.STEPS). A transient failure
(Loop down, 5xx, timeouts, a crash of the training process, or any unexpected exception) repeats the step after
a capped exponential backoff; a permanent one (the Loop refuses the model, the plugin raised TrainingError, too
many crashes) ends the training with the error reported. Errors go to the Loop as one line; tracebacks stay in
the node's log. Killing the node at any moment and starting it again continues from the last completed step:
downloaded images are kept, an uploaded format is not uploaded again, uploaded detections are not re-sent.
Ids and names from the Loop (organization, project, training id, image ids, model ids) reach a path or URL only
after `loop_shared.names` accepted them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loop_shared.backoff import Backoff
from loop_shared.errors import LoopError, LoopRefusedError, LoopResponseError, LoopUnavailableError, ModelPackageError
from loop_shared.loop_api import LoopApi, ProjectApi
from loop_shared.loop_client import LoopClient
from loop_shared.loop_socket import LoopSocket
from loop_shared.model_package import extract_package, write_json_atomic
from loop_shared.names import UnsafeNameError, inside, is_safe_name, safe_name
from loop_shared.schemas import (
    Context,
    Detections,
    SocketResponse,
    TrainerState,
    TrainingDetails,
    TrainingOut,
    TrainingStatus,
)
from loop_shared.tasks import TaskHealth, one_line, spawn

from .downloader import Downloader
from .history import TrainingHistory
from .logic import STOP_FILE, TrainerLogic, TrainingJob
from .record import STEPS, TrainingRecord
from .runner import ChildFailed, ChildInterrupted, ChildProcess, ChildRefused
from .settings import TrainerSettings

log = logging.getLogger("trainer")
DETECTION_STATES = ("inbox", "annotate", "review", "complete")


class PermanentError(Exception):
    """The training cannot succeed; it ends with this message reported to the Loop."""


class Lifecycle:
    def __init__(self, settings: TrainerSettings, client: LoopClient, logic: TrainerLogic, node_id: str,
                 name: str, health: TaskHealth) -> None:
        self.settings, self.client, self.logic, self.node_id, self.name = settings, client, logic, node_id, name
        self.health = health
        self.api = LoopApi(client)
        self.root = settings.data_dir / "training"
        self.record_path = self.root / "record.json"
        self.record = TrainingRecord.load(self.record_path)
        if self.record is not None and not all(map(is_safe_name, (self.record.id, self.record.organization,
                                                                  self.record.project))):
            log.error("ignoring %s: it names an unusable training id, organization or project", self.record_path)
            self.record = None
        self.history = TrainingHistory(settings.data_dir / "history.json")  # finished trainings, for pages
        self.socket: LoopSocket | None = None
        self.working_state: TrainerState | None = None
        self.progress: float | None = None
        self.child: ChildProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._aborting = False

    # identity and paths --------------------------------------------------------------------------------------
    def training_dir(self, record: TrainingRecord) -> Path:
        return inside(self.root, self.root / record.id)

    def images_dir(self, record: TrainingRecord) -> Path:
        images = self.settings.data_dir / "images"
        return inside(images, images / record.organization / record.project)

    def job(self, record: TrainingRecord) -> TrainingJob:
        tdir = self.training_dir(record)
        base = tdir / "base_model"
        return TrainingJob(training_dir=tdir, images_dir=self.images_dir(record), output_dir=tdir / "output",
                           categories=record.categories, hyperparameters=record.hyperparameters,
                           model_variant=record.model_variant, base_model_dir=base if base.exists() else None)

    def _write_job(self, record: TrainingRecord) -> tuple[TrainingJob, Path]:
        """The job as the child process reads it, in the training folder."""
        job = self.job(record)
        job_file = job.training_dir / "job.json"
        job_file.write_text(job.model_dump_json())
        return job, job_file

    def project_api(self, record: TrainingRecord) -> ProjectApi:
        return self.api.project(record.organization, record.project)

    def _save(self) -> None:
        if self.record is not None:
            self.record.save(self.record_path)

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

    # Loop events ---------------------------------------------------------------------------------------------
    async def on_begin_training(self, organization: str, project: str, details: Any) -> dict[str, Any]:
        if self.record is not None:
            return SocketResponse.failure(f"training {self.record.id} is still active", payload="refused")
        try:
            parsed = TrainingDetails.model_validate(details)
        except ValidationError as e:
            return SocketResponse.failure(f"invalid training details: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")
        loop_id = (parsed.model_extra or {}).get("id")
        base_model = parsed.base_model_uuid
        try:
            safe_name(organization, "organization")
            safe_name(project, "project")
            training_id = safe_name(str(loop_id), "training id") if loop_id else os.urandom(8).hex()
        except UnsafeNameError as e:
            log.error("refused a training: %s", e)
            return SocketResponse.failure(str(e))
        if base_model and not is_safe_name(base_model):
            log.warning("the base model id %r is unusable; training from scratch", base_model[:80])
            base_model = None
        record = TrainingRecord(id=training_id, organization=organization,
                                project=project, training_number=parsed.training_number,
                                categories=parsed.categories, hyperparameters=parsed.hyperparameters,
                                model_variant=parsed.model_variant, base_model_uuid=base_model)
        shutil.rmtree(self.root, ignore_errors=True)  # the previous training's leftovers (images are kept)
        self.record = record
        self._save()
        log.info("begin training %d of %s/%s (%d categories)", record.training_number, organization, project,
                 len(record.categories))
        self.start()
        return SocketResponse.ok()

    async def on_stop_training(self, *args: Any) -> dict[str, Any]:
        if self.record is not None and self.state == TrainerState.RUNNING:
            log.info("stop requested: finishing with the best model so far")
            self.record.stop_requested = True
            self._save()
            stop_file = self.training_dir(self.record) / STOP_FILE
            stop_file.parent.mkdir(parents=True, exist_ok=True)
            stop_file.touch()  # seen by a child that starts (or restarts) after this moment
            if self.child is not None:
                self.child.request_stop()
        return SocketResponse.ok()

    async def on_abort_training(self, *args: Any) -> dict[str, Any]:
        if self.record is not None:
            log.info("abort requested: discarding training %s", self.record.id)
            self._aborting = True
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            await self._cleanup()
            self._aborting = False
            self.start_if_pending()
        return SocketResponse.ok()

    async def on_restart(self, *args: Any) -> None:
        log.info("the Loop asked for a restart; shutting down (the training resumes on the next start)")
        os.kill(os.getpid(), signal.SIGTERM)

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

    async def _run(self) -> None:
        backoff = Backoff(self.settings.retry_base, self.settings.retry_cap)
        while self.record is not None and self.record.state != TrainerState.READY_FOR_CLEANUP:
            during, step, after = STEPS[self.record.state]
            self.working_state, self.progress = during, None
            await self.send_status()
            try:
                await getattr(self, f"_step_{step}")(self.record)
            except PermanentError as e:
                log.error("training %s failed in %s: %s", self.record.id, step, e)
                self.record.errors[step] = str(e)
                self.record.failed = str(e)
                self.record.state = TrainerState.READY_FOR_CLEANUP
                self._save()
                break
            except Exception as e:  # transient, or a defect: either way the step is tried again later
                delay = backoff.next_delay()
                expected = isinstance(e, (LoopError, ChildFailed, ChildInterrupted, OSError, ModelPackageError))
                self.record.errors[step] = one_line(e) if not isinstance(e, ChildFailed) else str(e)
                self._save()
                self.health.failed("training", self.record.errors[step])
                log.warning("step %s failed (%s); retrying in %.1f s", step, self.record.errors[step], delay,
                            exc_info=None if expected else e)
                self.working_state = None
                await self.send_status()
                await asyncio.sleep(delay)
                continue
            self.health.ok("training")
            backoff.reset()
            self.record.errors.pop(step, None)
            self.record.state = after
            self.working_state = None
            self._save()
            log.info("training %s: %s done", self.record.id, step)
        await self._cleanup()

    async def _cleanup(self) -> None:
        record = self.record
        if record is None:
            return
        self.working_state = TrainerState.READY_FOR_CLEANUP
        await self.send_status()  # the last status that still carries errors and context
        await self.history.remember(record, aborted=self._aborting)
        shutil.rmtree(self.training_dir(record), ignore_errors=True)
        self.record_path.unlink(missing_ok=True)
        self.record, self.working_state, self.progress = None, None, None
        log.info("training %s cleaned up%s", record.id, f" (failed: {record.failed})" if record.failed else "")
        await self.send_status()

    def _on_report(self, report: dict[str, Any]) -> None:
        if "progress" in report:
            self.progress = float(report["progress"])
            if "epoch" in report and self.record is not None:  # an epoch repeated after a resume replaces its twin
                entry = {k: v for k, v in report.items() if k != "progress"}
                self.record.history = [h for h in self.record.history if h.get("epoch") != entry["epoch"]] + [entry]
                self._save()
        if "confusion_matrix" in report and self.record is not None:
            self.record.best_metrics = report
            self._save()
            task = asyncio.get_running_loop().create_task(self._sync_metrics_quietly(self.record))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # steps ---------------------------------------------------------------------------------------------------
    async def _step_prepare(self, record: TrainingRecord) -> None:
        tdir = self.training_dir(record)
        tdir.mkdir(parents=True, exist_ok=True)
        downloader = Downloader(self.project_api(record), record.organization, record.project,
                                self.images_dir(record), self.settings.download_concurrency)
        ids = await downloader.image_ids("complete")
        data = [d for d in await downloader.image_data(ids, lambda p: setattr(self, "progress", 0.2 * p))
                if isinstance(d, dict) and d.get("id") in ids]
        corrupt, failed = await downloader.images(ids, lambda p: setattr(self, "progress", 0.2 + 0.8 * p))
        usable = [d for d in data if downloader.path(d["id"]).exists() and d.get("set") in ("train", "val", "test")]
        record.dropped_corrupt, record.missing_images = corrupt, len(data) - len(usable) - corrupt
        record.image_count = len(usable)
        record.train_image_count = sum(d["set"] in ("train", "val") for d in usable)
        record.test_image_count = sum(d["set"] == "test" for d in usable)
        if record.train_image_count == 0:
            raise PermanentError(f"no usable training images in {record.organization}/{record.project}")
        write_json_atomic(tdir / "image_data.json", usable)
        log.info("training data: %d images (%d train, %d test), %d corrupt dropped, %d not downloadable",
                 len(usable), record.train_image_count, record.test_image_count, corrupt, failed)

    async def _step_download_model(self, record: TrainingRecord) -> None:
        if not record.base_model_uuid:
            return
        tdir = self.training_dir(record)
        try:
            archive = await self.project_api(record).download_model(record.base_model_uuid, self.logic.model_format,
                                                                     tdir, "base_model.zip")
        except LoopResponseError as e:
            raise PermanentError(f"base model {record.base_model_uuid} cannot be downloaded: {e}") from e
        try:
            await asyncio.to_thread(extract_package, archive, tdir / "base_model", require_model_json=False)
        except ModelPackageError as e:
            raise PermanentError(f"base model package is unusable: {e}") from e
        finally:
            archive.unlink(missing_ok=True)

    async def _step_run_training(self, record: TrainingRecord) -> None:
        job, job_file = self._write_job(record)
        job.output_dir.mkdir(parents=True, exist_ok=True)
        self.child = ChildProcess(self.settings.trainer_logic, job.training_dir / "training.log",
                                  job.training_dir / "progress.jsonl")
        try:
            await self.child.run(["train", str(job_file)], self._on_report)
        except ChildRefused as e:
            raise PermanentError(str(e)) from e
        except ChildFailed as e:
            record.crashes += 1
            self._save()
            if record.crashes >= self.settings.max_crashes:
                raise PermanentError(f"the training process crashed {record.crashes} times; last: {e}") from e
            raise
        finally:
            self.child = None

    async def _sync_metrics(self, record: TrainingRecord) -> None:
        metrics = record.best_metrics
        if metrics is None or self.socket is None or not self.socket.connected:
            return
        out = TrainingOut(trainer_id=self.node_id, trainer_name=self.name,
                          confusion_matrix=metrics["confusion_matrix"], train_image_count=record.train_image_count,
                          test_image_count=record.test_image_count, hyperparameters=record.hyperparameters,
                          best_epoch=metrics.get("epoch"))
        ack = await self.socket.call("update_training", record.organization, record.project,
                                     out.model_dump(mode="json"), timeout=60)
        if not isinstance(ack, dict) or not ack.get("success"):
            raise LoopUnavailableError(f"the Loop did not accept the metrics: {ack!r}")
        record.synced_epoch = metrics.get("epoch")
        self._save()

    async def _sync_metrics_quietly(self, record: TrainingRecord) -> None:
        """During training: publish a new best; a failure is retried by the sync step after training."""
        try:
            await self._sync_metrics(record)
        except Exception as e:
            log.warning("could not publish metrics yet: %s", e)

    async def _step_sync_confusion_matrix(self, record: TrainingRecord) -> None:
        if record.best_metrics is None or record.synced_epoch == record.best_metrics.get("epoch"):
            return
        if self.socket is None or not self.socket.connected:
            raise LoopUnavailableError("not connected to the Loop")
        await self._sync_metrics(record)

    async def _step_upload_model(self, record: TrainingRecord) -> None:
        job = self.job(record)
        files, metadata = await asyncio.to_thread(self.logic.model_files, job)
        if not files:
            raise PermanentError("training produced no model files")
        model_json = {"categories": [c.model_dump(mode="json") for c in record.categories], **metadata}
        for fmt, paths in files.items():
            if fmt in record.uploaded_formats:
                continue
            try:
                stored = await self.project_api(record).upload_training_model(record.training_number, fmt, paths,
                                                                              model_json)
            except LoopRefusedError as e:  # 408 and 429 are LoopUnavailableError: those are tried again
                raise PermanentError(f"the Loop refused the {fmt} model: {e}") from e
            try:
                record.model_id = record.model_id or safe_name(stored.id, "model id")
            except UnsafeNameError as e:
                raise PermanentError(str(e)) from e
            record.uploaded_formats.append(fmt)
            self._save()
            log.info("uploaded the %s model of training %d (model %s)", fmt, record.training_number, record.model_id)
        if record.model_id is None:
            raise PermanentError("the model is uploaded, but the Loop never answered with its id")

    async def _step_detecting(self, record: TrainingRecord) -> None:
        job = self.job(record)
        tdir = job.training_dir
        if record.model_id is None:
            raise PermanentError("no uploaded model to detect with")
        model_dir = tdir / "detect_model"
        if not model_dir.exists():
            archive = await self.project_api(record).download_model(record.model_id, self.logic.model_format, tdir,
                                                                     "detect_model.zip")
            await asyncio.to_thread(extract_package, archive, model_dir)
            archive.unlink(missing_ok=True)
        downloader = Downloader(self.project_api(record), record.organization, record.project,
                                self.images_dir(record), self.settings.download_concurrency)
        ids: list[str] = []
        for i, state in enumerate(DETECTION_STATES):
            ids.extend(await downloader.image_ids(state))
            self.progress = 0.1 * (i + 1)
        await downloader.images(ids)
        images = [str(downloader.path(i)) for i in ids if downloader.path(i).exists()]
        write_json_atomic(tdir / "detect_images.json", images)
        _, job_file = self._write_job(record)
        self.child = ChildProcess(self.settings.trainer_logic, tdir / "detect.log", tdir / "progress.jsonl")
        try:
            await self.child.run(["detect", str(job_file), str(model_dir), str(tdir / "detect_images.json"),
                                  str(tdir / "detections.json")], self._on_report)
        except ChildRefused as e:
            raise PermanentError(str(e)) from e
        finally:
            self.child = None
        record.detections_uploaded = 0
        log.info("detected on %d images", len(images))

    async def _step_upload_detections(self, record: TrainingRecord) -> None:
        items = [Detections.model_validate(d) for d in
                 json.loads((self.training_dir(record) / "detections.json").read_text())]
        size = self.settings.detection_batch_size
        for start in range(record.detections_uploaded, len(items), size):
            batch = items[start:start + size]
            await self.project_api(record).upload_detections(batch)
            record.detections_uploaded = start + len(batch)
            self._save()
            self.progress = record.detections_uploaded / max(1, len(items))
        log.info("uploaded detections for %d images", len(items))


async def status_loop(lifecycle: Lifecycle, interval: float) -> None:
    while True:
        if await lifecycle.send_status():
            lifecycle.health.ok("status")
        else:
            lifecycle.health.failed("status", "not connected to the Loop, or update_trainer failed")
        await asyncio.sleep(interval)
