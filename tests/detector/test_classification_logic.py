"""The default ONNX logic on an image classifier `[1, C]`, built here with onnx.helper: scores declared as
probabilities or as logits, the classes above the threshold best first."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.classification import CLASSIFICATION
from loop_shared.model_package import read_model_info
from loop_shared.settings import load_settings
from loop_testkit.onnx_classifier import build_classifier_onnx
from loop_testkit.onnx_models import grid_categories
from loop_testkit.onnx_segmenter import write_package

CATEGORIES = grid_categories(("red", "green", "blue"), ("classification",) * 3)
MEANS = (153, 77, 26)  # the image's colour: channel means 0.6, 0.302, 0.102


def load(tmp_path: Path, gain: float, conf_threshold: float | None = None, **model_json: Any) -> OnnxDetectorLogic:
    directory = write_package(tmp_path / "model", build_classifier_onnx(32, gain), {
        "id": "m", "organization": "o", "project": "p", "version": "4.0", "categories": CATEGORIES, **model_json})
    settings = load_settings(DetectorSettings, organization="o", project="p", conf_threshold=conf_threshold)
    logic = OnnxDetectorLogic(read_model_info(directory), directory, settings)
    logic.load()
    return logic


def image() -> np.ndarray:
    return np.full((64, 64, 3), MEANS, np.uint8)  # square: no letterbox padding in the means


def classes(logic: OnnxDetectorLogic) -> list[tuple[str, str | None, str, float]]:
    result = logic.evaluate(image())
    assert result.box_detections == result.point_detections == result.segmentation_detections == []
    return [(c.category_name, c.category_id, c.model_name, c.confidence) for c in result.classification_detections]


def test_probabilities_are_taken_as_they_are_best_first(tmp_path: Path) -> None:
    logic = load(tmp_path, gain=1.0, scores="probabilities")
    assert logic.layout == CLASSIFICATION  # inferred from the output [1, 3]
    assert classes(logic) == [("red", "cat-red", "4.0", 0.6), ("green", "cat-green", "4.0", 0.302)]  # blue: 0.102


def test_logits_go_through_softmax(tmp_path: Path) -> None:
    logits = [10 * m / 255 for m in MEANS]
    total = sum(math.exp(v) for v in logits)
    red = round(math.exp(logits[0]) / total, 3)
    assert classes(load(tmp_path / "a", gain=10.0, scores="logits")) == [("red", "cat-red", "4.0", red)]
    # the threshold applies to the probabilities, so a lower one lets the second class through
    second = round(math.exp(logits[1]) / total, 3)
    assert classes(load(tmp_path / "b", gain=10.0, conf_threshold=0.01, scores="logits")) == [
        ("red", "cat-red", "4.0", red), ("green", "cat-green", "4.0", second)]


def test_scores_default_to_probabilities_and_bad_values_are_refused_at_load(tmp_path: Path) -> None:
    assert [c[0] for c in classes(load(tmp_path / "a", gain=1.0))] == ["red", "green"]
    with pytest.raises(ValueError, match="scores"):
        load(tmp_path / "b", gain=1.0, scores="softmaxed")


def test_a_classifier_with_the_wrong_number_of_classes_is_refused_at_load(tmp_path: Path) -> None:
    directory = write_package(tmp_path / "model", build_classifier_onnx(32), {
        "id": "m", "organization": "o", "project": "p", "version": "4.0", "categories": CATEGORIES[:2]})
    logic = OnnxDetectorLogic(read_model_info(directory), directory,
                              load_settings(DetectorSettings, organization="o", project="p"))
    with pytest.raises(ValueError, match=r"\[1, 2\]"):
        logic.load()
