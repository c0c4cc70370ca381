"""Model deployment: follow the Loop's target (or a pinned version), download, build, warm up, swap.

The target is served in the first of `LOOP_MODEL_FORMATS` the Loop has for it; when a better format of the same
model appears later (a converter finished), it replaces the served one the same way a new version does. A new
model is built and warmed up (in its own thread, however long an engine build takes) while the old one keeps
serving, then swapped in atomically; `building` says what is under way. A package that fails (bad zip, no
model.json, a model that will not load) is reported to the Loop and retried only after a growing pause, never in
a tight loop; meanwhile the next format that works is served. Models are cached per version, id and format
(model_cache.py); the current one and the version-control mode are persisted, so a restart without the Loop
serves the last model. The version and model id the Loop names become a directory name only after
`loop_shared.names` accepted them.
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
from loop_shared.errors import LoopError, LoopNotFoundError
from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.model_package import SHARED_VOLUME_GRACE, read_model_info, remove_partial_writes, write_json_atomic
from loop_shared.names import UnsafeNameError, is_safe_name, safe_name
from loop_shared.schemas import DetectorStatus, ModelInformation, ModelVersionResponse, OperationMode, VersionMode
from loop_shared.settings import ConfigurationError
from loop_shared.tasks import TaskHealth, one_line, spawn

from .engine import ActiveModel, Engine
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .model_cache import FormatMissing, ModelCache
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
        self.api = LoopApi(client).project(settings.organization, settings.project)
        self.cache = ModelCache(self.models_dir, self.api)
        self.formats = preferred_formats(settings, logic_cls)
        self.building: dict[str, Any] | None = None  # the model being downloaded, loaded and warmed up
        self.state_file = settings.data_dir / "detector_state.json"
        self.started = time.monotonic()
        self.operation_mode = OperationMode.STARTUP
        self.version_control = settings.version_control_default
        self.target: dict[str, str] | None = None  # {"id", "version"}
        self.loop_target: dict[str, str] | None = None
        self.errors: dict[str, str] = {}
        self._failures: dict[tuple[str, str], tuple[Backoff, float]] = {}  # (model id, format) -> next try
        self._update_lock = asyncio.Lock()
        self._cache_loaded = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[bool]] = set()
        self._load_state()

    # persisted state -----------------------------------------------------------------------------------------
    def _load_state(self) -> None:
        # replicas may share the data dir, so only what no one has touched for a while
        remove_partial_writes(self.state_file.parent, self.state_file.name, older_than=SHARED_VOLUME_GRACE)
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
            fmt = current.split("__")[2] if current.count("__") == 2 else self.logic_cls.model_format
            try:
                await self._build_and_swap(self.models_dir / current, fmt)
                log.info("serving cached model %s", current)
            except Exception as e:
                log.error("cached model %s does not load: %s", current, e)

    # checking and updating -----------------------------------------------------------------------------------
    async def _fetch_loop_target(self) -> dict[str, str] | None:
        try:
            data = await self.api.deployment_target()
            self.errors.pop("deployment_target", None)
        except LoopNotFoundError:  # no target set yet, nothing to report
            return None
        except LoopError as e:
            self.errors["deployment_target"] = one_line(e)
            log.warning("cannot read the deployment target: %s", e)
            return None
        try:
            return {"id": safe_name(data.model_uuid, "model_uuid"), "version": safe_name(data.version, "model version")}
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
        if active is not None and active.info.id == self.target["id"] and active.format == self.formats[0]:
            return
        await self.update(self.target)

    def _rank(self, fmt: str) -> int:
        return self.formats.index(fmt) if fmt in self.formats else len(self.formats)

    async def update(self, target: dict[str, str]) -> None:
        """Serve `target` in the best preferred format the Loop has that loads; keep what serves otherwise."""
        active = self.engine.active
        serving = active.format if active is not None and active.info.id == target["id"] else None
        on_loop = await self.cache.formats_on_loop(target)
        candidates = [f for f in self.formats if (on_loop is None or f in on_loop)
                      and (serving is None or self._rank(f) < self._rank(serving))]
        async with self._update_lock:
            served = await self._serve_best(target, candidates)
        if served is None and serving is None and on_loop is not None and not candidates:
            self.errors["update_model"] = (f"the Loop has model {target['version']} in {', '.join(on_loop) or 'no'} "
                                           f"format, none of LOOP_MODEL_FORMATS ({', '.join(self.formats)})")
        if served is not None or serving is None:
            await self.sync_status()

    async def _serve_best(self, target: dict[str, str], candidates: list[str]) -> str | None:
        """Try the formats in order (skipping those in a failure pause, and those the Loop does not have);
        returns the one now served, or None."""
        for fmt in candidates:
            failure = self._failures.get((target["id"], fmt))
            if failure is not None and time.monotonic() < failure[1]:
                continue
            self.building = {"version": target["version"], "format": fmt, "since": time.time()}
            try:
                await self._build_and_swap(await self.cache.fetch(target, fmt), fmt)
            except FormatMissing as e:
                log.debug("%s; trying the next format", e)
                continue
            except Exception as e:
                self._record_failure(target, fmt, self.cache.directory(target, fmt), e)
                continue
            finally:
                self.building = None
            self._failures.pop((target["id"], fmt), None)
            self.errors.pop("update_model", None)
            log.info("now serving model %s (%s) in format %s", target["version"], target["id"], fmt)
            return fmt
        return None

    async def _build_and_swap(self, directory: Path, fmt: str) -> None:
        """Load and warm up in a thread of its own (an engine build may take minutes), then swap atomically."""
        info = await asyncio.to_thread(read_model_info, directory)
        logic = self.logic_cls(info, directory, self.settings)
        await asyncio.to_thread(logic.load)
        await asyncio.to_thread(self.engine.warm_up, logic, info.resolution)
        self.engine.swap(ActiveModel(logic, info, directory, fmt))
        await asyncio.to_thread(self._save_state, directory.name)

    def _record_failure(self, target: dict[str, str], fmt: str, directory: Path, error: Exception) -> None:
        key = (target["id"], fmt)
        backoff, _ = self._failures.get(key, (Backoff(base=30.0, cap=1800.0), 0.0))
        delay = backoff.next_delay()
        self._failures[key] = (backoff, time.monotonic() + delay)
        message = f"model {target['version']} ({target['id']}) in {fmt}: {one_line(error)}"
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
        matches = [m for m in (await self.api.models()).models if m.version == value]
        if len(matches) != 1:
            raise VersionError(f"No Model with version {value}" if not matches else
                               f"Multiple models with version {value}")
        try:
            model_id = safe_name(matches[0].id, "model id")
        except UnsafeNameError as e:
            raise VersionError(str(e)) from e
        self.version_control = VersionMode.SPECIFIC_VERSION
        self.target = {"id": model_id, "version": value}
        self._failures = {k: v for k, v in self._failures.items() if k[0] != model_id}
        self._save_state()

    def current_version(self) -> str | None:
        active = self.engine.active
        return active.info.version if active else None

    def local_versions(self) -> list[str]:
        return self.cache.local_versions()

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
            task = asyncio.create_task(self.sync_status())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def serving_format(self) -> str:
        active = self.engine.active
        return active.format if active is not None else self.formats[0]

    def model_info(self) -> ModelInformation | None:
        active = self.engine.active
        return active.info if active else None


def preferred_formats(settings: DetectorSettings, logic_cls: type[DetectorLogic]) -> list[str]:
    """LOOP_MODEL_FORMATS, checked against what the logic runs (ConfigurationError naming the variable)."""
    wanted = settings.model_format_list or [logic_cls.model_format]
    unknown = [f for f in wanted if f not in logic_cls.supported_formats()]
    if unknown:
        raise ConfigurationError(f"configuration error: LOOP_MODEL_FORMATS: {logic_cls.__name__} runs "
                                 f"{', '.join(logic_cls.supported_formats())}, not {', '.join(unknown)}")
    return wanted
