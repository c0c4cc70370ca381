"""Running a model over project images as the detector does: its input size and type, letterbox, output layout.

The accuracy gate runs the source and the converted model through this, so both see the same tensors, and reads
the outputs with the detector's own layouts (`loop_shared.output_layouts.resolve_layout`), so a segmentation or
classification model is read as it will be served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from loop_shared.imaging import letterbox, to_tensor
from loop_shared.output_layouts import OutputLayout, resolve_layout

_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class ModelRun:
    """One model loaded on the CPU, with what reading its outputs needs."""

    def __init__(self, model: Path, model_info: dict[str, Any]) -> None:
        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        height, width = model_input.shape[2], model_input.shape[3]
        if not isinstance(height, int) or not isinstance(width, int):
            height = width = int(model_info.get("resolution") or 640)
        self.input_name, self.width, self.height = model_input.name, width, height
        self.dtype = _DTYPES.get(model_input.type, np.float32)
        self.keep_ratio = model_info.get("preprocessing", "letterbox") != "resize"
        self.classes = len(model_info.get("categories") or [])
        self.named_layout: str | None = model_info.get("output_layout")

    def layout(self) -> OutputLayout:
        """The output layout, from model.json or the shapes of the outputs (a probe on a blank input)."""
        probe = self.session.run(None, {self.input_name: np.zeros((1, 3, self.height, self.width), self.dtype)})
        return resolve_layout([tuple(o.shape) for o in probe], self.classes, self.named_layout)

    def outputs(self, images: list[Path]) -> Iterator[list[np.ndarray]]:
        """The float32 outputs for each image that decodes (unreadable files are skipped, for both models alike)."""
        for path in images:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            canvas, _ = letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.width, self.height,
                                  keep_ratio=self.keep_ratio)
            outputs = self.session.run(None, {self.input_name: to_tensor(canvas, self.dtype)})
            yield [np.asarray(o, np.float32) for o in outputs]
