"""The detector plugin: what a user implements to serve their own model.

Choose an implementation with `LOOP_DETECTOR_LOGIC=my_package.module:MyLogic`. The detector creates one instance
per model version, calls `load()` once in a worker thread, warms it up, and then calls `evaluate()` from several
worker threads at once. While a new version loads, the old instance keeps serving; the old instance is dropped
after the swap, once its last request has finished.

Example::

    class MyLogic(DetectorLogic):
        model_format = "my_format"          # the format the detector downloads from the Loop

        def load(self) -> None:
            self.net = my_framework.load(self.model_dir / "weights.bin")

        def evaluate(self, image: np.ndarray) -> ImageMetadata:
            boxes = self.net(image)
            return ImageMetadata(box_detections=[...])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from loop_shared.schemas import ImageMetadata, ModelInformation
from loop_shared.yolo import DEFAULT_CONF_THRESHOLD, DEFAULT_IOU_THRESHOLD, first_threshold

from .settings import DetectorSettings


class DetectorLogic(ABC):
    """Base class of detector plugins. Subclasses set `model_format` and implement `load` and `evaluate`.

    `model_formats` lists every format the logic runs (default: `model_format` alone); `LOOP_MODEL_FORMATS`
    chooses among them. `load` may set `execution_provider` to say what runs the model (shown in /about).
    """

    model_format: ClassVar[str] = "onnx"
    model_formats: ClassVar[tuple[str, ...]] = ()
    execution_provider: str | None = None

    @classmethod
    def supported_formats(cls) -> tuple[str, ...]:
        return cls.model_formats or (cls.model_format,)

    def __init__(self, model_info: ModelInformation, model_dir: Path, settings: DetectorSettings) -> None:
        """Store what the model needs; keep this cheap, heavy work belongs in `load`.

        `model_info` is the package's `model.json` (ordered `categories`, `resolution`, ...), `model_dir` the
        directory the package was unpacked to, `settings` the detector's configuration.
        """
        self.model_info = model_info
        self.model_dir = model_dir
        self.settings = settings
        # LOOP_CONF_THRESHOLD / LOOP_IOU_THRESHOLD win; else the values the model was evaluated with (model.json)
        self.conf_threshold = first_threshold(settings.conf_threshold, model_info.conf_threshold,
                                              DEFAULT_CONF_THRESHOLD)
        self.iou_threshold = first_threshold(settings.iou_threshold, model_info.iou_threshold, DEFAULT_IOU_THRESHOLD)

    @abstractmethod
    def load(self) -> None:
        """Load the model from `self.model_dir`. Called once, in a worker thread, before any `evaluate`.

        Raise any exception to reject the package: the detector reports the error to the Loop and keeps
        serving the previous model.
        """

    @abstractmethod
    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        """Detect objects in one image and return them in original-image pixels.

        `image` is an RGB `uint8` array of shape (height, width, 3), read-only. Called from several threads at
        once, so keep per-call state local. Set `model_name` of each detection to `self.model_info.version`.
        Raise ValueError for an image the model cannot handle (the client gets a 422).
        """

    def batch_evaluate(self, images: list[np.ndarray]) -> list[ImageMetadata]:
        """Evaluate several images; one result per image, same order. Override to batch on the accelerator."""
        return [self.evaluate(image) for image in images]

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release resources. Called after the logic was replaced and its last request has finished."""
