"""The conversion loop: scan projects, convert what is missing, upload, remember failures.

Every poll: list the projects (only LOOP_ORGANIZATION/LOOP_PROJECT when both are set), list their models, and for
each model with the source format but not the target format that is due (never tried, or its failure backoff
has run out) and is this replica's (see partition.py): download, unpack, convert in a worker thread, look again
whether the target format appeared meanwhile, upload the target format keeping the model's id and version. One
model's failure never blocks another. The scan runs supervised: any exception is logged, counted and retried.
Names from the Loop (organization, project, model and image ids) are used only after `loop_shared.names`
accepted them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from loop_shared.clock import SYSTEM_CLOCK, Clock
from loop_shared.errors import LoopError
from loop_shared.loop_api import LoopApi, LoopModel
from loop_shared.loop_client import LoopClient
from loop_shared.model_package import MODEL_JSON, extract_package, read_model_json
from loop_shared.names import is_safe_name
from loop_shared.tasks import TaskHealth, one_line, spawn

from .gate import GATED, Limits, refusal
from .logic import ConverterLogic
from .metrics import ConverterMetrics
from .partition import Partition, owner, replica_number
from .project_images import project_images
from .records import Records
from .settings import ConverterSettings

log = logging.getLogger("converter")


class ConversionError(Exception):
    """Converting or uploading one model failed; the message is the reason recorded for it, `figures` the
    accuracy figures when the gate refused it."""

    def __init__(self, message: str, figures: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.figures = figures


class Worker:
    def __init__(self, settings: ConverterSettings, client: LoopClient, logic: ConverterLogic,
                 health: TaskHealth, metrics: ConverterMetrics | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings, self.client, self.logic, self.health, self.clock = settings, client, logic, health, clock
        self.api = LoopApi(client)
        self.partition = Partition(replica_number(settings.replica_index), settings.replicas,
                                   settings.takeover_after)
        self.records = Records(settings.data_dir / "conversions.json", settings.retry_base, settings.retry_cap)
        self.metrics = metrics or ConverterMetrics(CollectorRegistry())
        self.metrics.watch(self.records)
        self.tmp_root = settings.data_dir / "tmp"
        shutil.rmtree(self.tmp_root, ignore_errors=True)  # leftovers of a crash
        self.tmp_root.mkdir(parents=True, exist_ok=True)
        self.last_scan: float | None = None
        self.last_error: str | None = None
        self.converted_count = 0
        self.skipped_count = 0  # the target format appeared while we converted (another replica was faster)
        self.last_figures: dict[str, Any] | None = None  # the accuracy figures of the latest conversion
        self.limits = Limits(settings.max_accuracy_drop, settings.max_mask_accuracy_drop, settings.min_top1_agreement,
                             settings.max_probability_difference)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = spawn("conversion", self._run, self.health, clock=self.clock)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
                self.last_error = None
                self.health.ok("conversion")
            except LoopError as e:
                self.last_error = one_line(e)
                self.health.failed("conversion", e)
                log.warning("cannot scan the Loop: %s", e)
            except BaseException as e:
                self.last_error = one_line(e)  # shown by /status; the supervisor logs, counts and restarts
                raise
            await self.clock.sleep(self.settings.poll_interval)

    async def projects(self) -> list[tuple[str, str]]:
        if self.settings.organization and self.settings.project:
            return [(self.settings.organization, self.settings.project)]
        found = [(p.organization_id, p.project_id) for p in (await self.api.projects()).projects]
        usable = [(o, p) for o, p in found if is_safe_name(o) and is_safe_name(p)]
        if len(usable) < len(found):
            log.warning("ignoring %d projects whose names cannot be used in a path", len(found) - len(usable))
        if self.settings.organization:
            usable = [p for p in usable if p[0] == self.settings.organization]
        return usable

    async def formats_of(self, org: str, project: str, model_id: str) -> list[str]:
        model = (await self.api.project(org, project).models()).find(model_id)
        return list(model.formats or []) if model is not None else []

    async def scan(self) -> int:
        """One pass over every visible project; returns how many models were converted."""
        done = backlog = 0
        source, target = self.logic.source_format, self.logic.target_format
        for org, project in await self.projects():
            for model in (await self.api.project(org, project).models()).models:
                if not is_safe_name(model.id):
                    log.warning("ignoring a model of %s/%s without a usable id: %.100r", org, project, model.id)
                    continue
                formats = model.formats or []
                key = Records.key(org, project, model.id, target)
                if source not in formats or target in formats:
                    self.partition.forget(key)
                    continue
                backlog += 1
                if not self.records.due(key) or not self.partition.mine(key):
                    continue
                if self.partition.taken_over(key):
                    log.warning("taking over model %s of %s/%s from replica %d, which left it unconverted for %.0f s",
                                model.version, org, project, owner(key, self.partition.replicas),
                                self.partition.takeover_after)
                started = time.perf_counter()
                try:
                    uploaded = await self.convert(org, project, model)
                except ConversionError as e:
                    self.metrics.conversions.labels(result="failed").inc()
                    delay = self.records.failed(key, str(model.version), str(e), e.figures)
                    log.error("model %s (%s/%s) failed to convert to %s: %s; next try in %.0f s",
                              model.version, org, project, target, e, delay)
                    continue
                self.records.converted(key, str(model.version), self.last_figures)
                self.partition.forget(key)
                self.metrics.conversions.labels(result="converted" if uploaded else "skipped").inc()
                self.metrics.seconds.observe(time.perf_counter() - started)
                backlog -= 1
                if uploaded:
                    self.converted_count += 1
                    done += 1
        self.last_scan = time.time()
        self.metrics.backlog.set(backlog)
        self.metrics.last_scan.set(self.last_scan)
        return done

    async def convert(self, org: str, project: str, model: LoopModel) -> bool:
        """Convert and upload one model; False when its target format appeared meanwhile (nothing uploaded)."""
        source, target = self.logic.source_format, self.logic.target_format
        api = self.api.project(org, project)
        with tempfile.TemporaryDirectory(dir=self.tmp_root) as tmp:
            tmp_dir = Path(tmp)
            try:
                archive = await api.download_model(model.id, source, tmp_dir, "source.zip")
                source_dir = await asyncio.to_thread(extract_package, archive, tmp_dir / "source")
                model_info = await asyncio.to_thread(read_model_json, source_dir)
            except Exception as e:
                raise ConversionError(f"cannot fetch the {source} package: {one_line(e)}") from e
            calibration, evaluation = await project_images(
                api, tmp_dir, self.logic.calibration_images, self.settings.accuracy_images)
            out_dir = tmp_dir / "target"
            out_dir.mkdir()
            started = time.perf_counter()
            try:
                additions = await asyncio.to_thread(self.logic.convert, source_dir, model_info, out_dir, calibration)
            except Exception as e:
                raise ConversionError(one_line(e)) from e
            files = [p for p in sorted(out_dir.iterdir()) if p.is_file() and p.name != MODEL_JSON]
            if not files:
                raise ConversionError("the converter produced no files")
            model_json = {**model_info, **(additions or {}), "format": target}
            figures = await self._gate(source_dir, out_dir, model_info, evaluation)
            if figures is not None:
                model_json["conversion"] = figures
            try:
                if target in await self.formats_of(org, project, model.id):
                    log.info("model %s of %s/%s got %s while we converted it (another converter was faster); "
                             "not uploading ours", model.version, org, project, target)
                    self.skipped_count += 1
                    return False
                stored = await api.upload_model_format(model.id, target, files, model_json)
            except LoopError as e:
                raise ConversionError(f"upload failed: {one_line(e)}") from e
            if stored.already_stored:
                log.info("model %s of %s/%s already has %s (another converter was faster)", model.version,
                         org, project, target)
                self.skipped_count += 1
                return False
            log.info("converted model %s of %s/%s from %s to %s in %.1f s", model.version, org, project,
                     source, target, time.perf_counter() - started)
            return True

    async def _gate(self, source_dir: Path, out_dir: Path, model_info: dict[str, Any],
                    images: list[Path]) -> dict[str, Any] | None:
        """The accuracy figures of a conversion; ConversionError (with them) when it lost too much."""
        self.last_figures = None
        if not self.logic.accuracy_gate:
            return None
        if not images:
            self.last_figures = {"measured": False, "reason": "the project has no images to compare on"}
            log.warning("publishing without an accuracy check: the project has no images to compare on")
            return self.last_figures
        try:
            figures = await asyncio.to_thread(self.logic.measure_accuracy, source_dir, out_dir, model_info, images)
        except Exception as e:
            raise ConversionError(f"the accuracy check failed: {one_line(e)}") from e
        if figures is None:
            return None
        figures = {"measured": True, **figures}
        self.last_figures = figures
        reason = refusal(figures, self.limits)
        if reason is not None:
            raise ConversionError(reason, figures)
        log.info("accuracy check passed (%s) on %s images", ", ".join(
            f"{key} {figures[key]}" for key in GATED if key in figures), figures.get("images"))
        return figures

    def status(self) -> dict[str, Any]:
        failures = {k: v for k, v in self.records.items.items() if v["status"] == "failed"}
        return {"source_format": self.logic.source_format, "target_format": self.logic.target_format,
                "last_scan": self.last_scan, "last_error": self.last_error, "converted": self.converted_count,
                "skipped": self.skipped_count, "replica": {"index": self.partition.index,
                                                           "replicas": self.partition.replicas},
                "failures": failures}
