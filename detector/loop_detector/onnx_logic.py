"""The default detector logic: any YOLO-style ONNX detector, instance segmenter or image classifier, run with
ONNX Runtime.

The package holds one `*.onnx` file and `model.json` with the ordered `categories` and the input `resolution`.
Optional model.json keys: `output_layout` (`ultralytics` for [1, 4+C, N], `yolov5` for [1, N, 5+C],
`ultralytics_segment` for [1, 4+C+M, N] with mask prototypes [1, M, H/4, W/4], `classification` for [1, C];
inferred from the outputs when absent), `scores` (a classifier's: `probabilities`, the default, or `logits`) and
`preprocessing` (`letterbox`, the default, or `resize`). It runs the `onnx`, `onnx_int8` and `onnx_fp16` packages
alike (float32 or float16 inputs), on the execution provider chosen by providers.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from loop_shared.classification import CLASSIFICATION, PROBABILITIES, probabilities
from loop_shared.imaging import letterbox_into
from loop_shared.output_layouts import resolve_layout
from loop_shared.schemas import ImageMetadata
from loop_shared.yolo import decode

from .logic import DetectorLogic
from .onnx_outputs import OutputReader
from .providers import create_session

_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def find_onnx_file(model_dir: Path) -> Path:
    candidates = sorted(model_dir.glob("*.onnx"))
    if not candidates:
        raise FileNotFoundError(f"no .onnx file in the model package ({model_dir.name})")
    preferred = [c for c in candidates if c.name == "model.onnx"]
    return (preferred or candidates)[0]


class OnnxDetectorLogic(DetectorLogic):
    model_format = "onnx"
    model_formats = ("onnx", "onnx_int8", "onnx_fp16")

    def load(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.ort_intra_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = create_session(find_onnx_file(self.model_dir), options, self.settings)
        self.execution_provider = self.session.get_providers()[0]
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        if model_input.type not in _DTYPES:
            raise ValueError(f"unsupported input type {model_input.type}")
        self.input_dtype = _DTYPES[model_input.type]
        self.height, self.width = self._input_size(model_input.shape)
        self.categories = self.model_info.categories
        if not self.categories:
            raise ValueError("model.json lists no categories")
        extra: dict[str, Any] = self.model_info.model_extra or {}
        self.keep_ratio = extra.get("preprocessing", "letterbox") != "resize"
        probe = self.session.run(None, {self.input_name: np.zeros((1, 3, self.height, self.width),
                                                                  self.input_dtype)})
        self.output_layout = resolve_layout([tuple(o.shape) for o in probe], len(self.categories),
                                            extra.get("output_layout"))
        self.layout = self.output_layout.name
        self.reader = OutputReader(self.output_layout, self.categories, self.model_info.version, self.conf_threshold,
                                   self.iou_threshold, (self.width, self.height),
                                   str(extra.get("scores", PROBABILITIES)))
        self._buffers = threading.local()
        # fails now, not mid-request, if the outputs do not read as the layout says
        if self.layout == CLASSIFICATION:
            probabilities(probe[self.output_layout.scores], self.reader.scores)
        else:
            decode(probe[self.output_layout.scores], self.output_layout.box_layout, len(self.categories))

    def _input_size(self, shape: list[Any]) -> tuple[int, int]:
        if len(shape) != 4:
            raise ValueError(f"expected an NCHW image input, got shape {shape}")
        h, w = shape[2], shape[3]
        resolution = self.model_info.resolution
        if not isinstance(h, int) or not isinstance(w, int):
            if not resolution:
                raise ValueError("the model has a dynamic input size and model.json gives no resolution")
            return resolution, resolution
        return h, w

    def _input_buffer(self) -> np.ndarray:
        """This thread's input tensor, reused for every request it serves (ONNX Runtime copies nothing out of it)."""
        tensor: np.ndarray | None = getattr(self._buffers, "input", None)
        if tensor is None:
            tensor = self._buffers.input = np.empty((1, 3, self.height, self.width), self.input_dtype)
        return tensor

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        height, width = image.shape[:2]
        tensor = self._input_buffer()
        lb = letterbox_into(image, tensor, self.keep_ratio)
        return self.reader.read(self.session.run(None, {self.input_name: tensor}), lb, width, height)
