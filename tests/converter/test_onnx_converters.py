"""The shipped converters produce models that load in the detector's default logic and detect the same."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from loop_converter.logic import ConverterLogic
from loop_converter.onnx_converters import OnnxFp16Converter, OnnxInt8Converter
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import extract_package, read_model_info, read_model_json, write_json_atomic
from loop_shared.settings import load_settings
from loop_testkit.onnx_models import grid_package

IDENTITY = {"id": "m", "organization": "o", "project": "p", "version": "1.0"}


def scenes(count: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    images = []
    for _ in range(count):
        image = rng.integers(0, 40, size=(128, 128, 3), dtype=np.uint8)
        for cell in rng.choice(16, size=3, replace=False):  # distinct cells: one dominant colour each
            r, c, ch = int(cell) // 4, int(cell) % 4, int(rng.integers(0, 3))
            image[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32, ch] = int(rng.integers(90, 256))
        images.append(image)
    return images


def logic_for(directory: Path) -> OnnxDetectorLogic:
    settings = load_settings(DetectorSettings, organization="o", project="p")
    logic = OnnxDetectorLogic(read_model_info(directory), directory, settings)
    logic.load()
    return logic


@pytest.mark.parametrize(("converter", "calibrated", "mode"), [
    (OnnxInt8Converter(), True, "int8_static"), (OnnxInt8Converter(), False, "int8_dynamic"),
    (OnnxFp16Converter(), False, None)], ids=["int8-static", "int8-dynamic", "fp16"])
def test_converted_model_detects_what_the_source_detects(tmp_path: Path, converter: ConverterLogic,
                                                         calibrated: bool, mode: str | None) -> None:
    source = extract_package(grid_package(tmp_path / "src.zip", conv=True, extra=IDENTITY), tmp_path / "source")
    target = tmp_path / "target"
    target.mkdir()
    calibration = []
    if calibrated:
        bright = np.zeros((128, 128, 3), np.uint8)
        bright[0:32, 0:32, 0], bright[0:32, 32:64, 1], bright[0:32, 64:96, 2] = 255, 255, 255
        for i, image in enumerate([*scenes(6), bright]):  # calibration covers the full range, as real data does
            path = tmp_path / f"calibration{i}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            calibration.append(path)
    additions = converter.convert(source, read_model_json(source), target, calibration)
    assert additions.get("quantization") == mode
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
        for key in confident:  # activations in 8 bits cost more precision than weights alone
            assert abs(a[key] - b[key]) < (0.1 if mode == "int8_static" else 0.03)
            compared += 1
    assert compared >= 10


def calibration_images(tmp_path: Path, count: int = 6) -> list[Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    bright = np.zeros((128, 128, 3), np.uint8)
    bright[0:32, 0:32, 0], bright[0:32, 32:64, 1], bright[0:32, 64:96, 2] = 255, 255, 255
    for i, image in enumerate([*scenes(count), bright]):
        path = tmp_path / f"image{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


@pytest.mark.parametrize(("fragile", "passes"), [(False, True), (True, False)], ids=["robust", "fragile"])
def test_the_accuracy_gate_measures_what_quantization_changed(tmp_path: Path, fragile: bool, passes: bool) -> None:
    converter = OnnxInt8Converter()
    package = grid_package(tmp_path / "src.zip", size=128, cell=32, conv=True, fragile=fragile, extra=IDENTITY)
    source = extract_package(package, tmp_path / "source")
    target = tmp_path / "target"
    target.mkdir()
    images = calibration_images(tmp_path / "images")
    converter.convert(source, read_model_json(source), target, images[:4])
    figures = converter.measure_accuracy(source, target, read_model_json(source), images[4:] + scenes_on_disk(tmp_path))
    assert figures is not None and figures["images"] == 3 + 5 and figures["source_detections"] >= 10
    if passes:
        assert figures["accuracy_drop"] <= 0.02 and figures["map50_vs_source"] >= 0.98
        assert figures["score_drift_max"] < 0.1
    else:  # the bright channel swamps the 8-bit scale of the scores: the converted model finds other things
        assert figures["accuracy_drop"] > 0.5, figures


def scenes_on_disk(tmp_path: Path) -> list[Path]:
    paths = []
    for i, image in enumerate(scenes(5)):
        path = tmp_path / f"scene{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def two_conv_model(path: Path) -> Path:
    """images [1, 3, 32, 32] → 3x3 conv, ReLU → 1x1 conv (the output layer) → [1, 2, 32, 32]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    body = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "body_w")
    head = numpy_helper.from_array(rng.normal(0, 0.3, (2, 4, 1, 1)).astype(np.float32), "head_w")
    nodes = [helper.make_node("Conv", ["images", "body_w"], ["features"], pads=[1, 1, 1, 1]),  # unnamed nodes
             helper.make_node("Relu", ["features"], ["active"]),
             helper.make_node("Conv", ["active", "head_w"], ["output0"])]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                           [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 2, 32, 32])],
                              [body, head])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.mkdir(parents=True)
    onnx.save(model, str(path / "model.onnx"))
    return path


def test_int8_keeps_the_layers_that_write_the_outputs_float(tmp_path: Path) -> None:
    source = two_conv_model(tmp_path / "source")
    target = tmp_path / "target"
    target.mkdir()
    additions = OnnxInt8Converter().convert(source, {"resolution": 32}, target, calibration_images(tmp_path / "c"))
    assert additions["quantization"] == "int8_static" and additions["float_layers"] == 1
    quantized = onnx.load(str(target / "model.onnx")).graph
    producers = {o: n.op_type for n in quantized.node for o in n.output}
    convs = [n for n in quantized.node if n.op_type == "Conv"]
    assert len(convs) == 2
    # QDQ: a quantized conv reads its input and weights through DequantizeLinear; the float one reads them as is
    [head] = [n for n in convs if n.output[0] == "output0"]
    [body] = [n for n in convs if n is not head]
    assert [producers.get(i) for i in body.input[:2]] == ["DequantizeLinear"] * 2
    assert producers.get(head.input[0]) == "Relu" and head.input[1] == "head_w"  # float activations and weights


def test_a_model_that_is_one_layer_is_quantized_whole(tmp_path: Path) -> None:
    source = extract_package(grid_package(tmp_path / "src.zip", size=128, cell=32, conv=True, extra=IDENTITY),
                             tmp_path / "source")
    target = tmp_path / "target"
    target.mkdir()
    additions = OnnxInt8Converter().convert(source, read_model_json(source), target, calibration_images(tmp_path / "c"))
    assert additions["float_layers"] == 0
    assert any(n.op_type == "DequantizeLinear" for n in onnx.load(str(target / "model.onnx")).graph.node)
