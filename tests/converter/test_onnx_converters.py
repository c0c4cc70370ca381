"""The shipped converters produce models that load in the detector's default logic and detect the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loop_converter.logic import ConverterLogic
from loop_converter.onnx_converters import OnnxFp16Converter, OnnxInt8Converter
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import extract_package, read_model_info, read_model_json, write_json_atomic
from loop_shared.settings import load_settings
from stub_loop.grid_model import grid_package

IDENTITY = {"id": "m", "organization": "o", "project": "p", "version": "1.0"}


def scenes(count: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    images = []
    for _ in range(count):
        image = rng.integers(0, 40, size=(128, 128, 3), dtype=np.uint8)
        for _ in range(3):
            r, c, ch = (int(v) for v in rng.integers(0, 4, 3))
            image[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32, ch % 3] = int(rng.integers(90, 256))
        images.append(image)
    return images


def logic_for(directory: Path) -> OnnxDetectorLogic:
    settings = load_settings(DetectorSettings, organization="o", project="p")
    logic = OnnxDetectorLogic(read_model_info(directory), directory, settings)
    logic.load()
    return logic


@pytest.mark.parametrize("converter", [OnnxInt8Converter(), OnnxFp16Converter()], ids=["int8", "fp16"])
def test_converted_model_detects_what_the_source_detects(tmp_path: Path, converter: ConverterLogic) -> None:
    source = extract_package(grid_package(tmp_path / "src.zip", conv=True, extra=IDENTITY), tmp_path / "source")
    target = tmp_path / "target"
    target.mkdir()
    additions = converter.convert(source, read_model_json(source), target)
    write_json_atomic(target / "model.json", {**read_model_json(source), **additions,
                                              "format": converter.target_format})
    original, converted = logic_for(source), logic_for(target)
    compared = 0
    for image in scenes():
        a = {(d.category_name, d.x, d.y, d.width, d.height): d.confidence
             for d in original.evaluate(image).box_detections}
        b = {(d.category_name, d.x, d.y, d.width, d.height): d.confidence
             for d in converted.evaluate(image).box_detections}
        confident = {k for k, v in a.items() if v > 0.3}
        assert confident <= set(b), "a confident source detection is missing after conversion"
        for key in confident:
            assert abs(a[key] - b[key]) < 0.03
            compared += 1
    assert compared >= 10
