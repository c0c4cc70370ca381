"""The default detector logic: any YOLO-style ONNX detection model, run with ONNX Runtime.

The package holds one `*.onnx` file and `model.json` with the ordered `categories` and the input `resolution`.
Optional model.json keys: `output_layout` (`ultralytics` for [1, 4+C, N], `yolov5` for [1, N, 5+C]; inferred
from the output shape when absent) and `preprocessing` (`letterbox`, the default, or `resize`). It runs the
`onnx`, `onnx_int8` and `onnx_fp16` packages alike (float32 or float16 inputs), on the execution provider
chosen by providers.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from loop_shared.imaging import letterbox_into
from loop_shared.schemas import BoxDetection, ImageMetadata, PointDetection
from loop_shared.yolo import decode, infer_layout, select, to_image_boxes

from .logic import DetectorLogic
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
                                                                  self.input_dtype)})[0]
        self.layout = extra.get("output_layout") or infer_layout(probe.shape, len(self.categories))
        self._buffers = threading.local()
        decode(probe, self.layout, len(self.categories))  # fails now, not mid-request, if the layout is wrong

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
        output = self.session.run(None, {self.input_name: tensor})[0].astype(np.float32, copy=False)
        boxes, scores, class_ids = decode(output, self.layout, len(self.categories))
        keep = select(boxes, scores, class_ids, self.conf_threshold, self.iou_threshold)
        result = ImageMetadata()
        if keep.size == 0:
            return result
        xyxy = to_image_boxes(boxes[keep], lb, width, height)
        version = self.model_info.version
        for (x1, y1, x2, y2), score, cls in zip(xyxy.tolist(), scores[keep].tolist(), class_ids[keep].tolist(),
                                                strict=True):
            category = self.categories[cls]
            confidence = round(score, 3)
            if category.type == "point":
                result.point_detections.append(PointDetection(
                    category_name=category.name, category_id=category.id, x=round((x1 + x2) / 2, 2),
                    y=round((y1 + y2) / 2, 2), model_name=version, confidence=confidence))
                continue
            x, y = round(x1), round(y1)
            w, h = round(x2) - x, round(y2) - y
            if w < 1 or h < 1:
                continue
            result.box_detections.append(BoxDetection(
                category_name=category.name, category_id=category.id, x=x, y=y, width=w, height=h,
                model_name=version, confidence=confidence))
        return result
