"""The accuracy gate on instance segmentation models: INT8 and FP16 conversions of the test kit's convolutional
colour segmenter pass it; a converted model whose prototype weights were perturbed fails on its masks alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from loop_converter.accuracy import measure
from loop_converter.gate import Limits, refusal
from loop_shared.model_package import read_model_json
from loop_testkit.onnx_segmenter import RED, build_segmenter_onnx, candidate, write_package
from tests.converter.category_models import (
    SEGMENTATION_CATEGORIES,
    SIZE,
    conversions,
    on_disk,
    perturbed,
    segmentation_package,
    segmentation_scenes,
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The source package and its INT8 (calibrated) and FP16 conversions, and the images to compare on."""
    root = tmp_path_factory.mktemp("segmentation")
    calibration = on_disk(segmentation_scenes(12, seed=1), root / "calibration")
    return conversions(segmentation_package(root / "source"), calibration, root)


def images(tmp_path: Path) -> list[Path]:
    return on_disk(segmentation_scenes(10, seed=2), tmp_path / "images")


@pytest.mark.parametrize("target", ["onnx_int8", "onnx_fp16"])
def test_a_faithful_conversion_keeps_the_masks(converted: dict[str, Path], tmp_path: Path, target: str) -> None:
    info = read_model_json(converted["source"])
    figures = measure(converted["source"] / "model.onnx", converted[target] / "model.onnx", images(tmp_path), info)
    assert figures["layout"] == "ultralytics_segment" and figures["images"] == 10
    assert figures["source_masks"] == 40  # four reported detections per image, each with its blob
    assert figures["mask_map50_vs_source"] >= 0.98 and figures["mask_accuracy_drop"] <= 0.02, figures
    assert figures["mask_map50_95_vs_source"] >= 0.9 and figures["accuracy_drop"] <= 0.02, figures
    assert refusal(figures, Limits()) is None


def test_perturbed_prototype_weights_fail_on_the_masks(converted: dict[str, Path], tmp_path: Path) -> None:
    def weaker_red(weights: np.ndarray) -> np.ndarray:  # red must be far brighter to count: blobs shrink or vanish
        weights[0, 0] *= 0.6
        return weights

    info = read_model_json(converted["source"])
    broken = perturbed(converted["onnx_int8"] / "model.onnx", "proto_weights", weaker_red)
    figures = measure(converted["source"] / "model.onnx", broken, images(tmp_path), info)
    assert figures["accuracy_drop"] == 0.0  # the boxes did not change: only the mask figures see it
    assert figures["mask_accuracy_drop"] > 0.1, figures
    reason = refusal(figures, Limits())
    assert reason is not None and "LOOP_MAX_MASK_ACCURACY_DROP" in reason
    # only segmentation categories are held to their masks: with red a box category the same model passes
    as_boxes = {**info, "categories": [{**info["categories"][0], "type": "box"}, info["categories"][1]]}
    figures = measure(converted["source"] / "model.onnx", broken, images(tmp_path), as_boxes)
    assert figures["source_masks"] == 20 and figures["mask_accuracy_drop"] == 0.0, figures


def test_int8_quantizes_the_body_and_keeps_the_prototype_layer_float(converted: dict[str, Path]) -> None:
    graph = onnx.load(str(converted["onnx_int8"] / "model.onnx")).graph
    producers = {output: node for node in graph.node for output in node.output}
    convs = {node.name: node for node in graph.node if node.op_type == "Conv"}
    assert producers[convs["average"].input[1]].op_type == "DequantizeLinear"  # int8 weights
    assert convs["proto"].input[1] == "proto_weights"  # float, as in the source
    assert "output1" in {o.name for o in graph.output} and not any(
        node.op_type == "QuantizeLinear" and "output" in node.input[0] for node in graph.node)


def test_a_detection_the_source_found_under_its_threshold_is_no_new_mask(tmp_path: Path) -> None:
    # the source reports the upper blob (0.9) and finds the lower one just under its threshold (0.47); the
    # converted model scores the lower one 0.55, above the upper one's 0.52: the same detection, not a new one
    def model(upper: float, lower: float) -> Path:
        columns = [candidate(16, 16, 24, 24, [upper, 0.0], RED), candidate(16, 48, 24, 24, [lower, 0.0], RED)]
        package = write_package(tmp_path / f"m{upper}", build_segmenter_onnx(SIZE, columns),
                                {"categories": SEGMENTATION_CATEGORIES, "conf_threshold": 0.5})
        return package / "model.onnx"

    info = {"categories": SEGMENTATION_CATEGORIES, "conf_threshold": 0.5}
    figures = measure(model(0.9, 0.47), model(0.52, 0.55), images(tmp_path), info)
    assert figures["source_masks"] == 10 and figures["mask_accuracy_drop"] == 0.0, figures
    # one that the source scored far lower is a new detection, ranked above the hit: precision 1/2
    figures = measure(model(0.9, 0.2), model(0.52, 0.55), images(tmp_path), info)
    assert figures["mask_map50_vs_source"] == pytest.approx(0.5) and figures["accuracy_drop"] == pytest.approx(0.5)
