"""Drop boxes smaller than `min_box_area` pixels (a key in model.json, default 100) from every result.

It reuses the shipped ONNX logic for loading and inference and only post-filters its answer, which is the
usual way to adapt the default logic: subclass it, call `super()`, change the result.
"""

from __future__ import annotations

import numpy as np

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_shared.schemas import ImageMetadata

DEFAULT_MIN_AREA = 100


class MinimumAreaLogic(OnnxDetectorLogic):
    model_format = "onnx"

    def load(self) -> None:
        super().load()
        extra = self.model_info.model_extra or {}
        self.min_area = int(extra.get("min_box_area", DEFAULT_MIN_AREA))

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        result = super().evaluate(image)
        result.box_detections = [b for b in result.box_detections if b.width * b.height >= self.min_area]
        return result
