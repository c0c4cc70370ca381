"""Building models and swapping them in: which format to serve, what failed, what is being built.

A target is served in the first of `LOOP_MODEL_FORMATS` the Loop has for it; when a better format of the same
model appears later (a converter finished), it replaces the served one the same way a new version does. A new
model is built and warmed up (in its own thread, however long an engine build takes) while the old one keeps
serving, then swapped in atomically; `building` says what is under way. A package that fails (bad zip, no
model.json, a model that will not load) is reported (errors["update_model"]) and retried only after a growing
pause, never in a tight loop; meanwhile the next format that works is served. A reload (soft_reload, POST /reload)
builds the served model again from its folder the same way, with a new logic.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from loop_shared.backoff import Backoff
from loop_shared.model_package import read_model_info
from loop_shared.settings import ConfigurationError
from loop_shared.tasks import one_line

from .deployment_state import DeploymentState, Target
from .engine import ActiveModel, Engine
from .errors import NotReadyError, ReloadError
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .model_cache import FormatMissing, ModelCache
from .settings import DetectorSettings

log = logging.getLogger("detector.deployment")
ERROR_KEY = "update_model"


def preferred_formats(settings: DetectorSettings, logic_cls: type[DetectorLogic]) -> list[str]:
    """LOOP_MODEL_FORMATS, checked against what the logic runs (ConfigurationError naming the variable)."""
    wanted = settings.model_format_list or [logic_cls.model_format]
    unknown = [f for f in wanted if f not in logic_cls.supported_formats()]
    if unknown:
        raise ConfigurationError(f"configuration error: LOOP_MODEL_FORMATS: {logic_cls.__name__} runs "
                                 f"{', '.join(logic_cls.supported_formats())}, not {', '.join(unknown)}")
    return wanted


class ModelSwitch:
    def __init__(self, settings: DetectorSettings, engine: Engine, logic_cls: type[DetectorLogic],
                 metrics: DetectorMetrics, cache: ModelCache, state: DeploymentState, errors: dict[str, str]) -> None:
        self.settings, self.engine, self.logic_cls, self.metrics = settings, engine, logic_cls, metrics
        self.cache, self.state, self.errors = cache, state, errors  # errors: the status' dict; we own ERROR_KEY
        self.formats = preferred_formats(settings, logic_cls)
        self.building: dict[str, Any] | None = None  # the model being downloaded, loaded and warmed up
        self._failures: dict[tuple[str, str], tuple[Backoff, float]] = {}  # (model id, format) -> next try
        self._lock = asyncio.Lock()

    def rank(self, fmt: str) -> int:
        return self.formats.index(fmt) if fmt in self.formats else len(self.formats)

    def serves_best(self, target: Target) -> bool:
        """Whether `target` is served in the most preferred format already (nothing better can come)."""
        active = self.engine.active
        return active is not None and active.info.id == target["id"] and active.format == self.formats[0]

    def current_version(self) -> str | None:
        active = self.engine.active
        return active.info.version if active else None

    def serving_format(self) -> str:
        active = self.engine.active
        return active.format if active is not None else self.formats[0]

    def forget_failures(self, model_id: str) -> None:
        """A person asked for this model: try each of its formats again at once."""
        self._failures = {k: v for k, v in self._failures.items() if k[0] != model_id}

    async def load_cached(self) -> None:
        """Serve the model served before the restart, if its folder is still there (no Loop needed)."""
        current = self.state.current_dir()
        if current is None or not (self.cache.models_dir / current / "model.json").exists():
            return
        fmt = current.split("__")[2] if current.count("__") == 2 else self.logic_cls.model_format
        try:
            await self.build_and_swap(self.cache.models_dir / current, fmt)
            log.info("serving cached model %s", current)
        except Exception as e:
            log.error("cached model %s does not load: %s", current, e)

    async def update(self, target: Target) -> bool:
        """Serve `target` in the best preferred format the Loop has that loads; keep what serves otherwise.
        Returns whether the status changed in a way worth reporting at once."""
        active = self.engine.active
        serving = active.format if active is not None and active.info.id == target["id"] else None
        on_loop = await self.cache.formats_on_loop(target)
        candidates = [f for f in self.formats if (on_loop is None or f in on_loop)
                      and (serving is None or self.rank(f) < self.rank(serving))]
        async with self._lock:
            served = await self._serve_best(target, candidates)
        if served is None and serving is None and on_loop is not None and not candidates:
            self.errors[ERROR_KEY] = (f"the Loop has model {target['version']} in {', '.join(on_loop) or 'no'} "
                                      f"format, none of LOOP_MODEL_FORMATS ({', '.join(self.formats)})")
        return served is not None or serving is None

    async def _serve_best(self, target: Target, candidates: list[str]) -> str | None:
        """Try the formats in order (skipping those in a failure pause, and those the Loop does not have);
        returns the one now served, or None."""
        for fmt in candidates:
            failure = self._failures.get((target["id"], fmt))
            if failure is not None and time.monotonic() < failure[1]:
                continue
            self.building = {"version": target["version"], "format": fmt, "since": time.time()}
            try:
                await self.build_and_swap(await self.cache.fetch(target, fmt), fmt)
            except FormatMissing as e:
                log.debug("%s; trying the next format", e)
                continue
            except Exception as e:
                self._record_failure(target, fmt, self.cache.directory(target, fmt), e)
                continue
            finally:
                self.building = None
            self._failures.pop((target["id"], fmt), None)
            self.errors.pop(ERROR_KEY, None)
            log.info("now serving model %s (%s) in format %s", target["version"], target["id"], fmt)
            return fmt
        return None

    async def reload(self) -> ActiveModel:
        """Build the served model again from its folder as it is on disk now (model.json and weights) with a new
        logic, warm it up while the current one serves, then swap, as a deployment does. Waits for a deployment
        in progress to finish first, then reloads what it left serving. Returns the model now serving; raises
        NotReadyError when nothing serves, ReloadError when the files do not load (the current model serves on)."""
        async with self._lock:
            active = self.engine.active
            if active is None:
                raise NotReadyError("no model loaded yet: nothing to reload")
            self.building = {"version": active.info.version, "format": active.format, "since": time.time()}
            try:
                served = await self.build_and_swap(active.directory, active.format)
            except Exception as e:
                log.error("reloading model %s from %s failed; still serving it as loaded before: %s",
                          active.info.version, active.directory, one_line(e))
                raise ReloadError(f"reloading model {active.info.version} from its files failed: {one_line(e)}; "
                                  "the model loaded before keeps serving") from e
            finally:
                self.building = None
        log.info("reloaded model %s (%s) from %s", served.info.version, served.format, served.directory)
        return served

    async def build_and_swap(self, directory: Path, fmt: str) -> ActiveModel:
        """Load and warm up in a thread of its own (an engine build may take minutes), then swap atomically;
        returns the model swapped in."""
        info = await asyncio.to_thread(read_model_info, directory)
        logic = self.logic_cls(info, directory, self.settings)
        await asyncio.to_thread(logic.load)
        await asyncio.to_thread(self.engine.warm_up, logic, info.resolution)
        model = ActiveModel(logic, info, directory, fmt)
        self.engine.swap(model)
        await asyncio.to_thread(self.state.save, directory.name)
        return model

    def _record_failure(self, target: Target, fmt: str, directory: Path, error: Exception) -> None:
        key = (target["id"], fmt)
        backoff, _ = self._failures.get(key, (Backoff(base=30.0, cap=1800.0), 0.0))
        delay = backoff.next_delay()
        self._failures[key] = (backoff, time.monotonic() + delay)
        message = f"model {target['version']} ({target['id']}) in {fmt}: {one_line(error)}"
        self.errors[ERROR_KEY] = message
        self.metrics.model_failures.inc()
        log.error("cannot deploy %s; still serving %s; next attempt in %.0f s", message,
                  self.current_version() or "nothing", delay)
        active = self.engine.active
        if active is None or active.directory != directory:
            shutil.rmtree(directory, ignore_errors=True)
