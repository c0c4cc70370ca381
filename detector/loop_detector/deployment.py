"""Model deployment: follow the Loop's target (or a pinned version), and report the detector's status.

Every poll interval, while idle, the deployment target is read from the Loop; in `follow_loop` mode it becomes the
target, and a target not served (or not in the best format) is handed to the model switch (model_switch.py:
download, build, warm up, swap, failure pauses; a reload builds the served model again from its files). `pause`
keeps what serves; a specific version pins a model by its version number. The mode and the target are persisted
(deployment_state.py), so a restart without the Loop serves the last model. The status goes to the Loop every status
interval and whenever the served model or the operation mode changes. The version and model id the Loop names become
a directory name only after `loop_shared.names` accepted them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from loop_shared.errors import LoopError, LoopNotFoundError
from loop_shared.loop_api import ProjectApi
from loop_shared.names import UnsafeNameError, safe_name
from loop_shared.schemas import DetectorStatus, ModelInformation, ModelVersionResponse, OperationMode, VersionMode
from loop_shared.tasks import TaskHealth, one_line, spawn

from .deployment_state import DeploymentState, Target
from .engine import ActiveModel, Engine
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .model_cache import ModelCache
from .model_switch import ModelSwitch, preferred_formats
from .settings import DetectorSettings

__all__ = ["Deployment", "VersionError", "preferred_formats"]
log = logging.getLogger("detector.deployment")
TARGET_ERROR = "deployment_target"


class VersionError(ValueError):
    """An invalid or unknown model version was requested."""


class Deployment:
    def __init__(self, settings: DetectorSettings, api: ProjectApi, engine: Engine,
                 logic_cls: type[DetectorLogic], metrics: DetectorMetrics, node_id: str, name: str,
                 health: TaskHealth) -> None:
        self.settings, self.engine, self.logic_cls, self.metrics = settings, engine, logic_cls, metrics
        self.health = health
        self.node_id, self.name = node_id, name
        self.api = api
        self.state = DeploymentState(settings.data_dir / "detector_state.json", settings.version_control_default)
        self.cache = ModelCache(settings.data_dir / "models", self.api)
        self.errors: dict[str, str] = {}  # reported to the Loop in the status
        self.switch = ModelSwitch(settings, engine, logic_cls, metrics, self.cache, self.state, self.errors)
        self.formats = self.switch.formats
        self.started = time.monotonic()
        self.operation_mode = OperationMode.STARTUP
        self.loop_target: Target | None = None
        self._cache_loaded = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[bool]] = set()

    # what other modules read ---------------------------------------------------------------------------------
    @property
    def target(self) -> Target | None:
        return self.state.target

    @property
    def version_control(self) -> VersionMode:
        return self.state.version_control

    @property
    def building(self) -> dict[str, Any] | None:
        return self.switch.building

    def current_version(self) -> str | None:
        return self.switch.current_version()

    def serving_format(self) -> str:
        return self.switch.serving_format()

    def local_versions(self) -> list[str]:
        return self.cache.local_versions()

    def model_info(self) -> ModelInformation | None:
        active = self.engine.active
        return active.info if active else None

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
            await self.switch.load_cached()
            self._cache_loaded = True
            self.operation_mode = OperationMode.IDLE
        while True:
            if self.operation_mode == OperationMode.IDLE:
                await self.poll_once()
            await asyncio.sleep(self.settings.poll_interval)

    async def poll_once(self) -> None:
        """One check, its outcome told to the health of the `deployment` task."""
        try:
            await self.check()
        except (LoopError, VersionError) as e:
            self.errors[TARGET_ERROR] = one_line(e)
            log.warning("deployment check failed: %s", e)
        problem = self.errors.get(TARGET_ERROR) or self.errors.get("update_model")
        if problem:
            self.health.failed("deployment", problem)
        else:
            self.health.ok("deployment")

    async def _status_loop(self) -> None:
        while True:
            if await self.sync_status():
                self.health.ok("status")
            else:
                self.health.failed("status", "the Loop did not take the status report")
            await asyncio.sleep(self.settings.status_interval)

    # following the target ------------------------------------------------------------------------------------
    async def _fetch_loop_target(self) -> Target | None:
        try:
            data = await self.api.deployment_target()
            self.errors.pop(TARGET_ERROR, None)
        except LoopNotFoundError:  # the Loop answered: no target set yet, nothing to report
            self.errors.pop(TARGET_ERROR, None)
            return None
        except LoopError as e:
            self.errors[TARGET_ERROR] = one_line(e)
            log.warning("cannot read the deployment target: %s", e)
            return None
        try:
            return {"id": safe_name(data.model_uuid, "model_uuid"), "version": safe_name(data.version, "model version")}
        except UnsafeNameError as e:
            self.errors[TARGET_ERROR] = str(e)
            log.error("ignoring the deployment target: %s", e)
            return None

    async def check(self) -> None:
        """One deployment cycle: find the target and update to it when it differs from what is served."""
        self.loop_target = await self._fetch_loop_target()
        if self.version_control == VersionMode.FOLLOW_LOOP and self.loop_target is not None \
                and self.loop_target != self.target:
            self.state.target = self.loop_target
            self.state.save()
        target = self.target
        if self.version_control == VersionMode.PAUSE or target is None or self.switch.serves_best(target):
            return
        await self.update(target)

    async def update(self, target: Target) -> None:
        if await self.switch.update(target):
            await self.sync_status()

    async def reload(self) -> ActiveModel:
        """soft_reload and POST /reload: the served model built again from its files (see ModelSwitch.reload).
        The Loop hears of it in the background, so a slow or absent Loop does not hold up the answer."""
        model = await self.switch.reload()
        self._in_background(self.sync_status())
        return model

    # version control -----------------------------------------------------------------------------------------
    async def set_version_mode(self, value: str) -> None:
        """`follow_loop`, `pause`, or a version number (`1.2`) the Loop has exactly one model of."""
        value = value.strip().strip('"')
        if value in (VersionMode.FOLLOW_LOOP.value, VersionMode.PAUSE.value):
            self.state.version_control = VersionMode(value)
            self.state.save()
            return
        if not value or not all(part.isdigit() for part in value.split(".")):
            raise VersionError("Invalid version number")
        matches = [m for m in (await self.api.models()).models if m.version == value]
        if len(matches) != 1:
            raise VersionError(f"No Model with version {value}" if not matches else
                               f"Multiple models with version {value}")
        try:
            model_id = safe_name(matches[0].id, "model id")
        except UnsafeNameError as e:
            raise VersionError(str(e)) from e
        self.state.version_control = VersionMode.SPECIFIC_VERSION
        self.state.target = {"id": model_id, "version": value}
        self.switch.forget_failures(model_id)
        self.state.save()

    def version_response(self) -> ModelVersionResponse:
        return ModelVersionResponse(
            current_version=str(self.current_version()), target_version=str(self.target and self.target["version"]),
            loop_version=str(self.loop_target and self.loop_target["version"]), local_versions=self.local_versions(),
            version_control=self.version_control.value)

    # status --------------------------------------------------------------------------------------------------
    def status(self) -> DetectorStatus:
        return DetectorStatus(uuid=self.node_id, name=self.name, state="online",
                              uptime=int(time.monotonic() - self.started), model_format=self.serving_format(),
                              current_model=self.current_version(),
                              target_model=self.target["version"] if self.target else None,
                              errors=dict(self.errors), operation_mode=self.operation_mode.value,
                              node_version=self.settings.node_version)

    async def sync_status(self) -> bool:
        """Report the status to the Loop; returns whether it was accepted (a failure is logged, not raised)."""
        try:
            await self.api.report_detector(self.status(), attempts=2)
        except LoopError as e:
            log.warning("cannot report status to the Loop: %s", e)
            return False
        return True

    async def set_operation_mode(self, mode: OperationMode) -> None:
        if mode != self.operation_mode:
            self.operation_mode = mode
            self._in_background(self.sync_status())

    def _in_background(self, report: Coroutine[Any, Any, bool]) -> None:
        task = asyncio.create_task(report)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
