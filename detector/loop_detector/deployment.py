"""Model deployment: follow the Loop's target (or a pinned version), download, build, warm up, swap.

A new model is built and warmed up while the old one keeps serving, then swapped in atomically. A package that
fails (bad zip, no model.json, a model that will not load) is reported to the Loop and retried only after a
growing pause, never in a tight loop. Models are cached per version and id under `models/`; the current one and
the version-control mode are persisted, so a restart without the Loop serves the last model. The version and
model id the Loop names become a directory name only after `loop_shared.names` accepted them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from loop_shared.backoff import Backoff
from loop_shared.errors import LoopError, ModelPackageError
from loop_shared.loop_client import LoopClient
from loop_shared.model_package import extract_package, read_model_info, write_json_atomic
from loop_shared.names import UnsafeNameError, inside, is_safe_name, safe_name
from loop_shared.schemas import DetectorStatus, ModelInformation, ModelVersionResponse, OperationMode, VersionMode
from loop_shared.tasks import TaskHealth, one_line, spawn

from .engine import ActiveModel, Engine
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .settings import DetectorSettings

log = logging.getLogger("detector.deployment")


class VersionError(ValueError):
    """An invalid or unknown model version was requested."""


class Deployment:
    def __init__(self, settings: DetectorSettings, client: LoopClient, engine: Engine,
                 logic_cls: type[DetectorLogic], metrics: DetectorMetrics, node_id: str, name: str,
                 health: TaskHealth) -> None:
        self.settings, self.client, self.engine, self.logic_cls, self.metrics = (settings, client, engine,
                                                                                   logic_cls, metrics)
        self.health = health
        self.node_id, self.name = node_id, name
        self.models_dir = settings.data_dir / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = settings.data_dir / "detector_state.json"
        self.started = time.monotonic()
        self.operation_mode = OperationMode.STARTUP
        self.version_control = settings.version_control_default
        self.target: dict[str, str] | None = None  # {"id", "version"}
        self.loop_target: dict[str, str] | None = None
        self.errors: dict[str, str] = {}
        self._failures: dict[str, tuple[Backoff, float]] = {}
        self._update_lock = asyncio.Lock()
        self._cache_loaded = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[bool]] = set()
        self._load_state()

    # persisted state -----------------------------------------------------------------------------------------
    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_file.read_text())
            self.version_control = VersionMode(state.get("version_control", self.version_control))
            target = state.get("target")
            if target is not None:
                self.target = {"id": safe_name(target["id"], "model id"),
                               "version": safe_name(target["version"], "model version")}
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, KeyError) as e:
            log.warning("ignoring unreadable %s: %s", self.state_file, e)

    def _save_state(self, current_dir: str | None = None) -> None:
        state: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            state = json.loads(self.state_file.read_text())
        state.update({"version_control": self.version_control.value, "target": self.target})
        if current_dir is not None:
            state["current_dir"] = current_dir
        write_json_atomic(self.state_file, state)

    # lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [spawn("deployment", self._startup_then_poll, self.health),
                       spawn("status", self._status_loop, self.health)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _startup_then_poll(self) -> None:
        """Serve the cached model (once), then check the Loop's target every poll interval. Runs supervised:
        an unexpected exception restarts this loop after a backoff, without loading the cache again."""
        if not self._cache_loaded:
            await self._load_cached()
            self._cache_loaded = True
            self.operation_mode = OperationMode.IDLE
        while True:
            if self.operation_mode == OperationMode.IDLE:
                try:
                    await self.check()
                except (LoopError, VersionError) as e:
                    self.errors["deployment_target"] = one_line(e)
                    log.warning("deployment check failed: %s", e)
                problem = self.errors.get("deployment_target") or self.errors.get("update_model")
                if problem:
                    self.health.failed("deployment", problem)
                else:
                    self.health.ok("deployment")
            await asyncio.sleep(self.settings.poll_interval)

    async def _status_loop(self) -> None:
        while True:
            if await self.sync_status():
                self.health.ok("status")
            else:
                self.health.failed("status", "the Loop did not take the status report")
            await asyncio.sleep(self.settings.status_interval)

    async def _load_cached(self) -> None:
        try:
            current = json.loads(self.state_file.read_text()).get("current_dir")
        except (FileNotFoundError, ValueError):
            return
        if not current or not is_safe_name(current):
            return
        if (self.models_dir / current / "model.json").exists():
            try:
                await self._build_and_swap(self.models_dir / current)
                log.info("serving cached model %s", current)
            except Exception as e:
                log.error("cached model %s does not load: %s", current, e)

    # checking and updating -----------------------------------------------------------------------------------
    async def _fetch_loop_target(self) -> dict[str, str] | None:
        try:
            data = await self.client.get_json(f"{self.client.project_path}/deployment/target")
            self.errors.pop("deployment_target", None)
        except LoopError as e:
            if getattr(e, "status_code", None) != 404:  # 404: no target set yet, nothing to report
                self.errors["deployment_target"] = one_line(e)
                log.warning("cannot read the deployment target: %s", e)
            return None
        if not isinstance(data, dict):
            self.errors["deployment_target"] = f"unexpected deployment target {str(data)[:100]!r}"
            return None
        try:
            return {"id": safe_name(data.get("model_uuid"), "model_uuid"),
                    "version": safe_name(data.get("version"), "model version")}
        except UnsafeNameError as e:
            self.errors["deployment_target"] = str(e)
            log.error("ignoring the deployment target: %s", e)
            return None

    async def check(self) -> None:
        """One deployment cycle: find the target and update to it when it differs from what is served."""
        self.loop_target = await self._fetch_loop_target()
        if self.version_control == VersionMode.FOLLOW_LOOP and self.loop_target is not None \
                and self.loop_target != self.target:
            self.target = self.loop_target
            self._save_state()
        if self.version_control == VersionMode.PAUSE or self.target is None:
            return
        active = self.engine.active
        if active is not None and active.info.id == self.target["id"]:
            return
        await self.update(self.target)

    def _model_dir(self, target: dict[str, str]) -> Path:
        return inside(self.models_dir, self.models_dir / f"{target['version']}__{target['id'][:8]}")

    async def update(self, target: dict[str, str]) -> None:
        failure = self._failures.get(target["id"])
        if failure is not None and time.monotonic() < failure[1]:
            return
        async with self._update_lock:
            directory = self._model_dir(target)
            try:
                if not self._cached(directory, target["id"]):
                    await self._download(target, directory)
                await self._build_and_swap(directory)
            except Exception as e:
                self._record_failure(target, directory, e)
                await self.sync_status()
                return
            self._failures.pop(target["id"], None)
            self.errors.pop("update_model", None)
            log.info("now serving model %s (%s)", target["version"], target["id"])
        await self.sync_status()

    def _cached(self, directory: Path, model_id: str) -> bool:
        try:
            return read_model_info(directory).id == model_id
        except ModelPackageError:
            return False

    async def _download(self, target: dict[str, str], directory: Path) -> None:
        fmt = self.logic_cls.model_format
        staging = self.models_dir / ".downloads"
        log.info("downloading model %s in format %s", target["version"], fmt)
        archive = await self.client.download(f"{self.client.project_path}/models/{target['id']}/{fmt}/file",
                                             staging, filename=f"{target['id']}.zip")
        try:
            await asyncio.to_thread(extract_package, archive, directory)
        finally:
            archive.unlink(missing_ok=True)

    async def _build_and_swap(self, directory: Path) -> None:
        info = await asyncio.to_thread(read_model_info, directory)
        logic = self.logic_cls(info, directory, self.settings)
        await self.engine.run(logic.load)
        await self.engine.run(self.engine.warm_up, logic, info.resolution)
        self.engine.swap(ActiveModel(logic, info, directory))
        await asyncio.to_thread(self._save_state, directory.name)

    def _record_failure(self, target: dict[str, str], directory: Path, error: Exception) -> None:
        backoff, _ = self._failures.get(target["id"], (Backoff(base=30.0, cap=1800.0), 0.0))
        delay = backoff.next_delay()
        self._failures[target["id"]] = (backoff, time.monotonic() + delay)
        message = f"model {target['version']} ({target['id']}): {one_line(error)}"
        self.errors["update_model"] = message
        self.metrics.model_failures.inc()
        log.error("cannot deploy %s; still serving %s; next attempt in %.0f s", message,
                  self.current_version() or "nothing", delay)
        active = self.engine.active
        if active is None or active.directory != directory:
            shutil.rmtree(directory, ignore_errors=True)

    # version control -----------------------------------------------------------------------------------------
    async def set_version_mode(self, value: str) -> None:
        value = value.strip().strip('"')
        if value in (VersionMode.FOLLOW_LOOP.value, VersionMode.PAUSE.value):
            self.version_control = VersionMode(value)
            self._save_state()
            return
        if not value or not all(part.isdigit() for part in value.split(".")):
            raise VersionError("Invalid version number")
        data = await self.client.get_json(f"{self.client.project_path}/models")
        matches = [m for m in data.get("models", []) if isinstance(m, dict) and m.get("version") == value]
        if len(matches) != 1:
            raise VersionError(f"No Model with version {value}" if not matches else
                               f"Multiple models with version {value}")
        try:
            model_id = safe_name(matches[0].get("id"), "model id")
        except UnsafeNameError as e:
            raise VersionError(str(e)) from e
        self.version_control = VersionMode.SPECIFIC_VERSION
        self.target = {"id": model_id, "version": value}
        self._failures.pop(self.target["id"], None)
        self._save_state()

    def current_version(self) -> str | None:
        active = self.engine.active
        return active.info.version if active else None

    def local_versions(self) -> list[str]:
        return sorted({d.name.split("__")[0] for d in self.models_dir.iterdir()
                       if d.is_dir() and "__" in d.name and (d / "model.json").exists()})

    def version_response(self) -> ModelVersionResponse:
        return ModelVersionResponse(
            current_version=str(self.current_version()), target_version=str(self.target and self.target["version"]),
            loop_version=str(self.loop_target and self.loop_target["version"]), local_versions=self.local_versions(),
            version_control=self.version_control.value)

    # status --------------------------------------------------------------------------------------------------
    def status(self) -> DetectorStatus:
        return DetectorStatus(uuid=self.node_id, name=self.name, state="online",
                              uptime=int(time.monotonic() - self.started), model_format=self.logic_cls.model_format,
                              current_model=self.current_version(),
                              target_model=self.target["version"] if self.target else None,
                              errors=dict(self.errors), operation_mode=self.operation_mode.value,
                              node_version=self.settings.node_version)

    async def sync_status(self) -> bool:
        """Report the status to the Loop; returns whether it was accepted (a failure is logged, not raised)."""
        try:
            response = await self.client.post(f"{self.client.project_path}/detectors",
                                              json=self.status().model_dump(mode="json"), attempts=2)
        except LoopError as e:
            log.warning("cannot report status to the Loop: %s", e)
            return False
        if not response.is_success:
            log.warning("the Loop refused the detector status: HTTP %d", response.status_code)
            return False
        return True

    async def set_operation_mode(self, mode: OperationMode) -> None:
        if mode != self.operation_mode:
            self.operation_mode = mode
            task = asyncio.create_task(self.sync_status())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def model_info(self) -> ModelInformation | None:
        active = self.engine.active
        return active.info if active else None
