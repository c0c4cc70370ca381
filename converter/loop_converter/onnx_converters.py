"""The shipped converters: ONNX to INT8-quantized ONNX and ONNX to float16 ONNX, with ONNX Runtime's tools."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.transformers.float16 import convert_float_to_float16

from loop_shared.imaging import letterbox, to_tensor

from .accuracy import measure
from .logic import ConverterLogic

log = logging.getLogger("converter.onnx")
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]


def source_onnx(source_dir: Path) -> Path:
    candidates = sorted(source_dir.glob("*.onnx"))
    if not candidates:
        raise FileNotFoundError("the source package has no .onnx file")
    return next((c for c in candidates if c.name == "model.onnx"), candidates[0])


@contextmanager
def quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def verify_loads(path: Path) -> None:
    """The converted model must at least load in ONNX Runtime before it is offered to anyone."""
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


class ImageReader(CalibrationDataReader):
    """Feeds calibration images to the quantizer, preprocessed exactly as the detector does (letterbox, 0..1)."""

    def __init__(self, model: Path, images: list[Path], model_info: dict[str, Any]) -> None:
        model_input = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0]
        height, width = model_input.shape[2], model_input.shape[3]
        if not isinstance(height, int) or not isinstance(width, int):
            height = width = int(model_info.get("resolution") or 640)
        keep_ratio = model_info.get("preprocessing", "letterbox") != "resize"
        self.name, self.size, self.keep_ratio = model_input.name, (width, height), keep_ratio
        self.images = iter(images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        for path in self.images:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            canvas, _ = letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), *self.size, keep_ratio=self.keep_ratio)
            return {self.name: to_tensor(canvas)}
        return None


class MeasuredOnnxConversion(ConverterLogic):
    """ONNX to a lossy ONNX: the accuracy gate compares the detections of both models."""

    accuracy_gate = True

    def measure_accuracy(self, source_dir: Path, target_dir: Path, model_info: dict[str, Any],
                         images: list[Path]) -> dict[str, Any] | None:
        return measure(source_onnx(source_dir), target_dir / "model.onnx", images, model_info)


class OnnxInt8Converter(MeasuredOnnxConversion):
    """INT8 quantization. With images of the project: static (QDQ, calibrated on them), which ONNX Runtime runs
    with integer kernels; without: dynamic quantization of the weights. Inputs and outputs stay float32."""

    source_format = "onnx"
    target_format = "onnx_int8"
    calibration_images = 32

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path,
                calibration: list[Path]) -> dict[str, Any]:
        source, target = source_onnx(source_dir), target_dir / "model.onnx"
        with quiet_root_logger():  # the quantizer logs generic advice through the root logger
            if calibration:
                # only the compute-heavy ops: the output head concatenates pixels and scores, which one
                # 8-bit scale cannot hold both of
                quantize_static(source, target, ImageReader(source, calibration, model_info),
                                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=QUANTIZED_OPS)
                mode = "int8_static"
            else:
                log.warning("no calibration images: falling back to dynamic quantization (slower on CPU)")
                quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
                mode = "int8_dynamic"
        verify_loads(target)
        return {"quantization": mode, "calibration_images": len(calibration)}


class OnnxFp16Converter(MeasuredOnnxConversion):
    """Float16 weights and arithmetic; inputs and outputs stay float32 so clients need no change."""

    source_format = "onnx"
    target_format = "onnx_fp16"

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path,
                calibration: list[Path]) -> dict[str, Any]:
        model = onnx.load(str(source_onnx(source_dir)))
        converted = convert_float_to_float16(model, keep_io_types=True)
        target = target_dir / "model.onnx"
        onnx.save(converted, str(target))
        verify_loads(target)
        return {"precision": "fp16"}
