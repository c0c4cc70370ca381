"""Convert `onnx` models to `ort`: the optimized ORT format that minimal ONNX Runtime builds load.

ONNX Runtime writes the format itself when a session is created with `session.save_model_format = ORT`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort

from loop_converter.logic import ConverterLogic
from loop_converter.onnx_converters import source_onnx


class OrtFormatConverter(ConverterLogic):
    source_format = "onnx"
    target_format = "ort"

    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path,
                calibration: list[Path]) -> dict[str, Any]:
        target = target_dir / "model.ort"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        options.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(str(source_onnx(source_dir)), options, providers=["CPUExecutionProvider"])
        ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])  # it must load again
        return {"runtime_format": "ort", "onnxruntime_version": ort.__version__}
