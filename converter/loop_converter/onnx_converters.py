"""The shipped converters: ONNX to INT8-quantized ONNX and ONNX to float16 ONNX, with ONNX Runtime's tools."""

from __future__ import annotations

import logging
import tempfile
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


def output_layers(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The quantizable nodes that write the model's outputs: the first ones met going back from each graph output
    through other operations (for the reference detector its box and score convolutions; for a head that ends in
    a fixed convolution, such as a distribution-to-distance step, that convolution)."""
    producers = {name: node for node in model.graph.node for name in node.output}
    found: list[onnx.NodeProto] = []
    seen: set[int] = set()
    pending = [output.name for output in model.graph.output]
    while pending:
        node = producers.get(pending.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type in QUANTIZED_OPS:
            found.append(node)
        else:
            pending.extend(node.input)
    return found


def _weight_bytes(model: onnx.ModelProto) -> int:
    return sum(len(tensor.raw_data) for tensor in model.graph.initializer)


def float_output_layers(source: Path, work_dir: Path) -> tuple[Path, list[str]]:
    """(the model to quantize, the names of the nodes that stay float): the layers that write the outputs keep
    float weights and activations unless they are all the model computes. Their outputs are the scores and box
    sides themselves, where one 8-bit step moves a score across the confidence threshold or a side by a few
    pixels, and they are a small share of the work. Unnamed nodes get names (the quantizer excludes by name)."""
    model = onnx.load(str(source), load_external_data=False)  # the graph is enough to look at
    outputs = output_layers(model)
    if len(outputs) == sum(node.op_type in QUANTIZED_OPS for node in model.graph.node):
        return source, []
    if any(not node.name for node in outputs):
        onnx.load_external_data_for_model(model, str(source.parent))
        names = {node.name for node in model.graph.node}
        for k, node in enumerate(model.graph.node):
            if not node.name:
                node.name = f"{node.op_type}_{k}"
                while node.name in names:  # a name the model already uses (nodes of its own have their index)
                    node.name += "_"
        source = work_dir / "named.onnx"
        onnx.save(model, str(source), save_as_external_data=_weight_bytes(model) > 2**30,
                   location="named.onnx.data")
    return source, [node.name for node in outputs]


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
    with integer kernels, the layers that write the outputs kept float; without: dynamic quantization of the
    weights. Inputs and outputs stay float32."""

    source_format = "onnx"
    target_format = "onnx_int8"
    calibration_images = 32

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path,
                calibration: list[Path]) -> dict[str, Any]:
        source, target = source_onnx(source_dir), target_dir / "model.onnx"
        kept_float: list[str] = []
        # quiet: the quantizer logs generic advice through the root logger
        with quiet_root_logger(), tempfile.TemporaryDirectory() as work_dir:
            if calibration:
                # only the compute-heavy ops (the output head concatenates pixels and scores, which one 8-bit
                # scale cannot hold both of), and not the layers that write the outputs
                source, kept_float = float_output_layers(source, Path(work_dir))
                quantize_static(source, target, ImageReader(source, calibration, model_info),
                                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=QUANTIZED_OPS,
                                nodes_to_exclude=kept_float)
                mode = "int8_static"
            else:
                log.warning("no calibration images: falling back to dynamic quantization (slower on CPU)")
                quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
                mode = "int8_dynamic"
        verify_loads(target)
        return {"quantization": mode, "calibration_images": len(calibration), "float_layers": len(kept_float)}


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
