"""The accuracy gate on classifiers: INT8 and FP16 conversions of the test kit's convolutional colour classifier
(ending in a softmax) pass it; a converted model with perturbed weights fails on top-1 agreement, or on the
probabilities when the top class survives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from loop_converter.accuracy import measure
from loop_converter.gate import Limits, refusal
from loop_shared.model_package import read_model_json
from tests.converter.category_models import (
    classification_package,
    classification_scenes,
    conversions,
    on_disk,
    perturbed,
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classification")
    calibration = on_disk(classification_scenes(12, seed=1), root / "calibration")
    return conversions(classification_package(root / "source"), calibration, root)


def images(tmp_path: Path) -> list[Path]:
    return on_disk(classification_scenes(30, seed=2), tmp_path / "images")


@pytest.mark.parametrize("target", ["onnx_int8", "onnx_fp16"])
def test_a_faithful_conversion_keeps_the_top_class(converted: dict[str, Path], tmp_path: Path, target: str) -> None:
    figures = measure(converted["source"] / "model.onnx", converted[target] / "model.onnx", images(tmp_path),
                      read_model_json(converted["source"]))
    assert figures["layout"] == "classification" and figures["images"] == 30
    assert figures["top1_agreement"] == 1.0 and figures["accuracy_drop"] == 0.0, figures
    assert figures["probability_difference_mean"] <= 0.01, figures
    assert refusal(figures, Limits()) is None


def test_swapped_class_weights_fail_on_top1_agreement(converted: dict[str, Path], tmp_path: Path) -> None:
    broken = perturbed(converted["onnx_int8"] / "model.onnx", "fc_weights", lambda w: w[[0, 2, 1]])
    figures = measure(converted["source"] / "model.onnx", broken, images(tmp_path),
                      read_model_json(converted["source"]))
    assert figures["top1_agreement"] < 0.9 and figures["probability_difference_mean"] > 0.1, figures
    reason = refusal(figures, Limits())
    assert reason is not None and "LOOP_MIN_TOP1_AGREEMENT" in reason


def test_flattened_probabilities_fail_although_the_top_class_survives(converted: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    broken = perturbed(converted["onnx_fp16"] / "model.onnx", "fc_weights", lambda w: w * 0.7)
    figures = measure(converted["source"] / "model.onnx", broken, images(tmp_path),
                      read_model_json(converted["source"]))
    assert figures["top1_agreement"] == 1.0 and figures["probability_difference_mean"] > 0.03, figures
    reason = refusal(figures, Limits())
    assert reason is not None and "LOOP_MAX_PROBABILITY_DIFFERENCE" in reason


def test_logits_are_compared_as_probabilities(tmp_path: Path) -> None:
    # a classifier without a softmax: adding the same amount to every logit changes no probability
    source = classification_package(tmp_path / "logits", softmax=False)
    shifted = perturbed(source / "model.onnx", "fc_bias", lambda b: b + 5.0)
    figures = measure(source / "model.onnx", shifted, images(tmp_path), read_model_json(source))
    assert figures["top1_agreement"] == 1.0 and figures["probability_difference_max"] < 1e-4, figures


def test_int8_keeps_the_layer_before_the_softmax_float(converted: dict[str, Path]) -> None:
    graph = onnx.load(str(converted["onnx_int8"] / "model.onnx")).graph
    producers = {output: node for node in graph.node for output in node.output}
    nodes = {node.name: node for node in graph.node}
    assert producers[nodes["average"].input[1]].op_type == "DequantizeLinear"  # int8 weights
    assert nodes["fc"].input[1] == "fc_weights" and nodes["softmax"].op_type == "Softmax"
    assert producers[nodes["softmax"].input[0]] is nodes["fc"]  # nothing quantized between them
    assert np.isclose(float(np.sum(np.abs(onnx.numpy_helper.to_array(
        next(t for t in graph.initializer if t.name == "fc_weights"))))), 36.0)  # 3 x gain 12, unchanged
