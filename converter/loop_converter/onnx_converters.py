"""The shipped converters: ONNX to INT8-quantized ONNX and ONNX to float16 ONNX, with ONNX Runtime's tools."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16

from .logic import ConverterLogic

log = logging.getLogger("converter.onnx")


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


class OnnxInt8Converter(ConverterLogic):
    """Dynamic INT8 quantization of the weights (Conv, MatMul, Gemm); inputs and outputs stay float32."""

    source_format = "onnx"
    target_format = "onnx_int8"

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path) -> dict[str, Any]:
        target = target_dir / "model.onnx"
        with quiet_root_logger():  # the quantizer logs generic advice through the root logger
            quantize_dynamic(source_onnx(source_dir), target, weight_type=QuantType.QInt8)
        verify_loads(target)
        return {"quantization": "int8_dynamic"}


class OnnxFp16Converter(ConverterLogic):
    """Float16 weights and arithmetic; inputs and outputs stay float32 so clients need no change."""

    source_format = "onnx"
    target_format = "onnx_fp16"

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path) -> dict[str, Any]:
        model = onnx.load(str(source_onnx(source_dir)))
        converted = convert_float_to_float16(model, keep_io_types=True)
        target = target_dir / "model.onnx"
        onnx.save(converted, str(target))
        verify_loads(target)
        return {"precision": "fp16"}
