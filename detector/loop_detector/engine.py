"""Inference off the event loop: decode, evaluate, tag, and hand relevant images to the outbox.

Requests run concurrently on a pool of inference threads (ONNX Runtime releases the GIL), the most recently idle
thread first (see inference_pool); there is no lock around inference. The served model is one reference swapped
atomically: a request keeps the model it started with, and a replaced model is closed only after its last request
has finished, so no request fails during a swap. A batch is decoded and evaluated in chunks of at most
`LOOP_MAX_IMAGE_PIXELS` decoded pixels, so a request of many large images needs the memory of one chunk, not of
all its images at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np

from loop_shared.schemas import ImageMetadata, ModelInformation

from . import images
from .errors import InputError, LogicError, NotReadyError, OutboxFullError, QuotaExceededError
from .inference_pool import LifoThreadPool
from .logic import DetectorLogic
from .metrics import DetectorMetrics
from .outbox import Outbox
from .settings import DetectorSettings
from .upload_policy import UploadPolicy
from .upload_size import shrink

log = logging.getLogger("detector.engine")
T = TypeVar("T")


class Autoupload(StrEnum):
    FILTERED = "filtered"
    ALL = "all"
    DISABLED = "disabled"

    @classmethod
    def parse(cls, value: str | None) -> Autoupload:
        try:
            return cls("filtered" if value is None else value)  # an empty header is a mistake, not the default
        except ValueError:
            raise InputError(f"autoupload must be filtered, all or disabled, not {value!r}") from None


@dataclass
class ImageInput:
    """One image as a client sent it: encoded bytes, or an already decoded RGB array."""

    encoded: bytes | None = None
    array: np.ndarray | None = None


@dataclass
class DetectOptions:
    camera_id: str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    created: str | None = None
    autoupload: Autoupload = Autoupload.FILTERED


@dataclass
class ActiveModel:
    logic: DetectorLogic
    info: ModelInformation
    directory: Path
    format: str = "onnx"
    in_flight: int = 0
    retired: bool = False


def now_created() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Engine:
    def __init__(self, settings: DetectorSettings, metrics: DetectorMetrics, policy: UploadPolicy,
                 outbox: Outbox) -> None:
        self.settings, self.metrics, self.policy, self.outbox = settings, metrics, policy, outbox
        self.pool = LifoThreadPool(settings.inference_workers, "inference")
        self._lock = threading.Lock()
        self._active: ActiveModel | None = None

    @property
    def active(self) -> ActiveModel | None:
        return self._active

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    # model swapping ------------------------------------------------------------------------------------------
    def swap(self, model: ActiveModel) -> None:
        with self._lock:
            old, self._active = self._active, model
            if old is not None:
                old.retired = True
                idle = old.in_flight == 0
        if old is not None and idle:
            self._close(old)
        self.metrics.set_model(model.info.version, model.format, model.logic.execution_provider)
        self.metrics.model_swaps.inc()

    def _acquire(self) -> ActiveModel:
        with self._lock:
            model = self._active
            if model is None:
                raise NotReadyError("no model loaded yet; the detector is waiting for its first model")
            model.in_flight += 1
            return model

    def _release(self, model: ActiveModel) -> None:
        with self._lock:
            model.in_flight -= 1
            close = model.retired and model.in_flight == 0
        if close:
            self._close(model)

    @staticmethod
    def _close(model: ActiveModel) -> None:
        try:
            model.logic.close()
        except Exception:
            log.exception("closing the logic of model %s failed", model.info.version)

    # inference -----------------------------------------------------------------------------------------------
    def _to_array(self, image: ImageInput) -> np.ndarray:
        if image.array is not None:
            return image.array
        assert image.encoded is not None
        return images.decode(image.encoded, self.settings.max_image_bytes, self.settings.max_image_pixels)

    def _evaluate(self, model: ActiveModel, arrays: list[np.ndarray]) -> list[ImageMetadata]:
        started = time.perf_counter()
        try:
            results = model.logic.batch_evaluate(arrays) if len(arrays) > 1 else [model.logic.evaluate(arrays[0])]
        except ValueError as e:
            raise InputError(f"the model cannot process this image: {e}") from e
        except Exception as e:
            log.exception("detector logic failed")
            raise LogicError(f"inference failed: {type(e).__name__}: {e}") from e
        if len(results) != len(arrays):
            raise LogicError(f"the logic returned {len(results)} results for {len(arrays)} images")
        self.metrics.inference.observe((time.perf_counter() - started) / len(arrays))
        return results

    def detect_sync(self, inputs: list[ImageInput], options: DetectOptions) -> list[ImageMetadata]:
        """Blocking: decode, evaluate, complete the metadata and queue relevant images. Runs in the pool."""
        model = self._acquire()
        try:
            created = options.created or now_created()
            results: list[ImageMetadata] = []
            for chunk in self._chunks(inputs):
                arrays = [self._to_array(i) for i in chunk]
                for image, array, metadata in zip(chunk, arrays, self._evaluate(model, arrays), strict=True):
                    metadata.tags.extend(options.tags)
                    metadata.source, metadata.created = options.source, created
                    metadata.image_size = {"width": int(array.shape[1]), "height": int(array.shape[0])}
                    metadata.model_version = model.info.version
                    self._autoupload(image, array, metadata, options, model.logic.conf_threshold)
                    results.append(metadata)
                del arrays  # this chunk's pixels are freed before the next chunk is decoded
            return results
        finally:
            self._release(model)

    def _chunks(self, inputs: list[ImageInput]) -> list[list[ImageInput]]:
        """Consecutive groups of images holding at most `max_image_pixels` decoded pixels (at least one image);
        sizes come from the image headers, so nothing is decoded to plan this."""
        if len(inputs) == 1:
            return [inputs]
        budget, pixels = self.settings.max_image_pixels, 0
        chunk: list[ImageInput] = []
        chunks = [chunk]
        for image in inputs:
            if image.array is not None:
                size = int(image.array.shape[0]) * int(image.array.shape[1])
            else:
                assert image.encoded is not None
                width, height = images.check_encoded(image.encoded, self.settings.max_image_bytes, budget)
                size = width * height
            if chunk and pixels + size > budget:
                chunk, pixels = [], 0
                chunks.append(chunk)
            chunk.append(image)
            pixels += size
        return chunks

    def _autoupload(self, image: ImageInput, array: np.ndarray, metadata: ImageMetadata,
                    options: DetectOptions, conf_threshold: float) -> None:
        if options.autoupload == Autoupload.DISABLED:
            return
        if options.autoupload == Autoupload.FILTERED:
            decision = self.policy.filtered(metadata, options.camera_id, conf_threshold)
        else:
            decision = self.policy.unconditional(options.camera_id)
        if decision.upload:
            metadata.tags.extend(t for t in decision.tags if t not in metadata.tags)
            self.queue_upload(image, array, metadata, priority=False, drop_when_full=True)

    def offer_upload(self, image: ImageInput, metadata: ImageMetadata, priority: bool) -> str | None:
        """An image a client asked to upload (`/upload`, Socket.IO `upload`): QuotaExceededError when the overall
        quota is used up (never for priority uploads). Blocking."""
        decision = self.policy.unconditional(priority=priority)
        if not decision.upload:
            raise QuotaExceededError("the upload quota is used up; the image was not stored (upload_priority "
                                     "uploads are never held back)", decision.retry_after)
        return self.queue_upload(image, None, metadata, priority, drop_when_full=False)

    def queue_upload(self, image: ImageInput, array: np.ndarray | None, metadata: ImageMetadata, priority: bool,
                     drop_when_full: bool) -> str | None:
        """Persist an image for the Loop (blocking). JPEG bytes are kept as sent, anything else becomes JPEG,
        unless LOOP_UPLOAD_MAX_SIDE / LOOP_UPLOAD_JPEG_QUALITY make it smaller (detections scaled to match)."""
        settings = self.settings
        jpeg: bytes | None = None
        if settings.upload_max_side is not None or settings.upload_jpeg_quality is not None:
            rgb = array if array is not None else self._to_array(image)
            jpeg = shrink(rgb, metadata, settings.upload_max_side, settings.upload_jpeg_quality)
        elif image.encoded is not None and image.encoded[:2] == b"\xff\xd8":
            jpeg = image.encoded
        if jpeg is None:
            jpeg = images.encode_jpeg(array if array is not None else self._to_array(image))
        try:
            return self.outbox.put(jpeg, metadata.model_dump(mode="json"), priority=priority,
                                   drop_when_full=drop_when_full)
        except OutboxFullError:
            if drop_when_full:
                return None
            raise

    def warm_up(self, logic: DetectorLogic, resolution: int | None) -> None:
        """Run one inference on a blank image so that a new model answers before it is swapped in."""
        side = resolution or 64
        logic.evaluate(np.zeros((side, side, 3), np.uint8))
