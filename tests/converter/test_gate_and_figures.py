"""The converter gate and the figures it reads: edges that the mutation run (make mutate MUTATE=accuracy-gate) found
untested.

The figures dicts go into the converted package's model.json (`conversion`), the converter's records and page and
its log, and `gate.refusal` reads them: the tests pin whole dicts of small known cases (keys, values, rounding),
the thresholds read from model.json with values other than the defaults, scores exactly at a threshold, and the
gate's limits exactly at and just past each one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loop_converter import accuracy, classification_accuracy, segmentation_accuracy
from loop_converter.box_accuracy import RANKING_CONF, compare_boxes, detections
from loop_converter.classification_accuracy import class_probabilities, measure_classification
from loop_converter.gate import Limits, refusal
from loop_converter.segmentation_accuracy import Instance, _same_as_under, instances, segmentation_classes
from loop_shared.detection_metrics import Box
from loop_shared.mask_metrics import MaskInstance
from loop_testkit.onnx_models import build_constant_onnx
from loop_testkit.onnx_segmenter import GREEN, RED, build_segmenter_onnx, candidate, write_package
from tests.converter.category_models import CLASSES, SIZE, classification_package, on_disk

TWO = [{"id": "c-a", "name": "a", "type": "box"}, {"id": "c-b", "name": "b", "type": "box"}]
BOXES = {"categories": TWO, "resolution": SIZE, "output_layout": "ultralytics"}


# --- the gate -------------------------------------------------------------------------------------------------------

def test_an_accuracy_drop_at_the_limit_passes_and_just_above_is_refused() -> None:
    figures = {"images": 7, "map50_vs_source": 0.98, "accuracy_drop": 0.02}
    assert refusal(figures, Limits()) is None
    assert refusal({**figures, "map50_vs_source": 0.9799, "accuracy_drop": 0.0201}, Limits()) == (
        "the converted model lost too much: accuracy drop 0.020 > LOOP_MAX_ACCURACY_DROP 0.02 (mAP@0.5 0.9799 "
        "against the source's detections on 7 images)")


def test_figures_without_an_accuracy_drop_pass() -> None:
    assert refusal({"images": 3}, Limits()) is None
    assert refusal({"images": 3, "mask_accuracy_drop": 0.0}, Limits()) is None


def test_a_mask_drop_at_the_limit_passes_and_just_above_is_refused() -> None:
    figures = {"images": 5, "accuracy_drop": 0.0, "mask_map50_vs_source": 0.95, "mask_accuracy_drop": 0.05}
    limits = Limits(max_mask_accuracy_drop=0.05)
    assert refusal(figures, limits) is None
    assert refusal({**figures, "mask_map50_vs_source": 0.9499, "mask_accuracy_drop": 0.0501}, limits) == (
        "the converted model lost too much: mask accuracy drop 0.050 > LOOP_MAX_MASK_ACCURACY_DROP 0.05 "
        "(mask mAP@0.5 0.9499 against the source's masks on 5 images)")


def test_classification_figures_take_the_classification_limits() -> None:
    figures = {"images": 50, "top1_agreement": 0.98, "accuracy_drop": 0.02, "probability_difference_mean": 0.03}
    assert refusal(figures, Limits()) is None  # both exactly at their limits
    # the accuracy drop of a classifier is 1 - the agreement: only the agreement's limit applies to it
    assert refusal({**figures, "accuracy_drop": 0.5}, Limits(max_accuracy_drop=0.0)) is None
    assert refusal({"images": 2, "top1_agreement": 1.0}, Limits()) is None  # no probability figure: 0.0
    assert refusal({**figures, "top1_agreement": 0.9799}, Limits()) == (
        "the converted model lost too much: top-1 agreement 0.980 < LOOP_MIN_TOP1_AGREEMENT 0.98 with the "
        "source's top classes on 50 images")
    assert refusal({**figures, "probability_difference_mean": 0.0301}, Limits()) == (
        "the converted model lost too much: mean probability difference 0.030 > LOOP_MAX_PROBABILITY_DIFFERENCE "
        "0.03 on 50 images")


# --- box figures ----------------------------------------------------------------------------------------------------

def test_a_source_score_exactly_at_the_threshold_is_under_it() -> None:
    # the detector reports scores above its threshold: the box scored exactly 0.5 is one the source found under
    # it, so the converted model's 0.55 for it (ranked first) is the same box, not a new detection
    found = [[Box(0, 0, 10, 10, 0, 0.6), Box(40, 40, 50, 50, 0, 0.5)]]
    candidate_boxes = [[Box(40, 40, 50, 50, 0, 0.55), Box(0, 0, 10, 10, 0, 0.52)]]
    assert compare_boxes(found, candidate_boxes, 0.5) == {
        "images": 1, "reference": "the source model's detections", "source_detections": 1,
        "converted_detections": 2, "matched": 1, "map50_vs_source": 1.0, "accuracy_drop": 0.0,
        "score_drift_mean": 0.08, "score_drift_max": 0.08}


def test_box_figures_are_rounded_to_four_places() -> None:
    found = [[Box(0, 0, 10, 10, 0, 0.9), Box(20, 20, 30, 30, 0, 0.8), Box(40, 40, 50, 50, 1, 0.7)]]
    # a new box ranked first, two of the three found again with moved scores, the third lost
    candidate_boxes = [[Box(60, 60, 70, 70, 0, 0.95), Box(0, 0, 10, 10, 0, 0.91234),
                        Box(20, 20, 30, 30, 0, 0.75679)]]
    assert compare_boxes(found, candidate_boxes, 0.5) == {
        "images": 1, "reference": "the source model's detections", "source_detections": 3,
        "converted_detections": 3, "matched": 2, "map50_vs_source": 0.3333, "accuracy_drop": 0.6667,
        "score_drift_mean": 0.0278, "score_drift_max": 0.0432}


@pytest.mark.parametrize(("candidate_boxes", "map50", "converted"), [
    ([[]], 1.0, 0),                              # nothing found, nothing new: no change
    ([[Box(0, 0, 10, 10, 0, 0.3)]], 0.0, 1),     # any detection the source did not report is new
])
def test_when_the_source_reports_nothing(candidate_boxes: list[list[Box]], map50: float, converted: int) -> None:
    found = [[Box(40, 40, 50, 50, 0, 0.3)]]  # under the threshold only
    assert compare_boxes(found, candidate_boxes, 0.5) == {
        "images": 1, "reference": "the source model's detections", "source_detections": 0,
        "converted_detections": converted, "matched": 0, "map50_vs_source": map50, "accuracy_drop": 1.0 - map50,
        "score_drift_mean": 0.0, "score_drift_max": 0.0}


def box_model(path: Path, columns: list[list[float]]) -> Path:
    """A box detector (`ultralytics`, [1, 4 + C, N]) whose detections are the constant `columns` (cx, cy, w, h, C
    scores), the same for every image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_constant_onnx(SIZE, np.asarray(columns, np.float32).T[np.newaxis]))
    return path


# a: class a, 0.9; b: class a, 0.8, IoU 7/13 = 0.54 with a (kept at iou_threshold 0.6, not at the default 0.45);
# c: class b, 0.25 (reported at the default conf_threshold 0.2, not at 0.3); d: class b, 0.15
COLUMNS = [[20, 20, 10, 16, 0.9, 0.0], [23, 20, 10, 16, 0.8, 0.0], [48, 48, 8, 8, 0.0, 0.25],
           [48, 16, 12, 6, 0.0, 0.15]]
A, B, C, D = (15, 12, 25, 28, 0, 0.9), (18, 12, 28, 28, 0, 0.8), (44, 44, 52, 52, 1, 0.25), (42, 13, 54, 19, 1, 0.15)


def as_tuples(found: list[list[Box]]) -> list[list[tuple[float, ...]]]:
    return [[(b.x1, b.y1, b.x2, b.y2, b.category, round(b.score, 4)) for b in image] for image in found]


def dark_images(tmp_path: Path, count: int) -> list[Path]:
    return on_disk([np.full((SIZE, SIZE, 3), 20, np.uint8)] * count, tmp_path / "images")


@pytest.mark.parametrize(("model_json", "conf", "expected"), [
    ({}, None, [A, C]),                                              # the detector's defaults: conf 0.2, IoU 0.45
    ({"conf_threshold": 0.3, "iou_threshold": 0.6}, None, [A, B]),   # model.json's thresholds
    ({"conf_threshold": 0.3, "iou_threshold": 0.6}, 0.1, [A, B, C, D]),  # a confidence given: it, not model.json's
])
def test_detections_read_the_thresholds_of_model_json(tmp_path: Path, model_json: dict[str, Any],
                                                      conf: float | None, expected: list[tuple[float, ...]]) -> None:
    model = box_model(tmp_path / "model.onnx", COLUMNS)
    found = detections(model, dark_images(tmp_path, 2), {**BOXES, **model_json}, conf)
    assert as_tuples(found) == [expected, expected]


def test_measured_box_figures_of_two_models(tmp_path: Path) -> None:
    source = box_model(tmp_path / "source.onnx", [[20, 20, 10, 16, 0.9, 0.0], [48, 48, 8, 8, 0.0, 0.55],
                                                  [48, 16, 12, 6, 0.0, 0.3]])
    # a found again (moved by 0.1) under a new box ranked first (AP 0.5), the 0.55 box now under the threshold but
    # still ranked (AP 1.0); the 0.3 box, under the threshold, is no reference
    converted = box_model(tmp_path / "converted.onnx", [[20, 20, 10, 16, 0.8, 0.0], [48, 48, 8, 8, 0.0, 0.45],
                                                        [16, 48, 10, 10, 0.95, 0.0]])
    info = {**BOXES, "conf_threshold": 0.5, "iou_threshold": 0.6}
    assert accuracy.measure(source, converted, dark_images(tmp_path, 2), info) == {
        "layout": "ultralytics", "images": 2, "reference": "the source model's detections",
        "source_detections": 4, "converted_detections": 6, "matched": 4, "map50_vs_source": 0.75,
        "accuracy_drop": 0.25, "score_drift_mean": 0.1, "score_drift_max": 0.1}


# --- segmentation figures -------------------------------------------------------------------------------------------

def test_without_segmentation_categories_every_category_gets_masks() -> None:
    assert segmentation_classes({"categories": TWO}) == {0, 1}
    assert segmentation_classes({"categories": [TWO[0], {**TWO[1], "type": "segmentation"}]}) == {1}


def test_the_same_detection_as_one_under_the_threshold() -> None:
    box = Box(0, 0, 10, 10, 0, 0.2)
    half = Box(0, 0, 10, 5, 0, 0.1)  # IoU exactly 0.5, score exactly SAME_BOX_DRIFT lower: still the same
    assert _same_as_under(box, [], [half])
    assert not _same_as_under(box, [], [Box(0, 0, 10, 5, 1, 0.1)])  # another category
    assert not _same_as_under(box, [], [Box(0, 0, 10, 5, 0, 0.05)])  # scored further apart
    assert not _same_as_under(box, [Box(0, 0, 10, 10, 0, 0.9)], [half])  # it is a reported one
    assert not _same_as_under(box, [], [])


def segmenter(tmp_path: Path, columns: list[list[float]]) -> Path:
    return Path(write_package(tmp_path / "segmenter", build_segmenter_onnx(SIZE, columns), {})) / "model.onnx"


SEGMENT = {"categories": [{"id": "c-red", "name": "red_thing", "type": "segmentation"},
                          {"id": "c-green", "name": "green_thing", "type": "segmentation"}],
           "resolution": SIZE, "output_layout": "ultralytics_segment", "iou_threshold": 0.6}


def test_instances_crop_their_masks_to_the_image(tmp_path: Path) -> None:
    columns = [candidate(8, 30, 20, 12, [0.9, 0.0], RED),     # over the left edge
               candidate(40, 6, 12, 16, [0.0, 0.8], GREEN),   # over the top edge
               candidate(-20, 40, 8, 8, [0.7, 0.0], RED),     # outside the image: no mask
               candidate(40, 44, 16, 12, [0.6, 0.0], RED),    # inside
               candidate(45, 44, 16, 12, [0.55, 0.0], RED),   # IoU 11/21 with the one before: kept at 0.6
               candidate(56, 56, 8, 8, [0.1, 0.0], GREEN)]    # under the confidence asked for
    yellow = on_disk([np.full((SIZE, SIZE, 3), (255, 255, 0), np.uint8)], tmp_path / "images")  # all red and green
    [found] = instances(segmenter(tmp_path, columns), yellow, SEGMENT, 0.5)
    # each mask a crop of the image at its box (every pixel red and green: all set), bool as the metrics take it
    assert all(i.mask is None or (i.mask.mask.dtype == bool and i.mask.mask.all()) for i in found)
    masks = [(i.mask.category, round(i.mask.score, 4), i.mask.origin, i.mask.mask.shape) if i.mask else None
             for i in found]
    assert masks == [(0, 0.9, (0, 24), (12, 18)), (1, 0.8, (34, 0), (14, 12)), None, (0, 0.6, (32, 38), (12, 16)),
                     (0, 0.55, (37, 38), (12, 16))]


def test_instances_of_a_model_without_masks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected an ultralytics_segment model, the outputs read as ultralytics$"):
        instances(box_model(tmp_path / "boxes.onnx", COLUMNS), dark_images(tmp_path, 1), BOXES, 0.5)


def instance(x: float, y: float, score: float, shift: int = 0) -> Instance:
    """A 10 x 10 detection of category 0 at (x, y) whose mask is its box (moved right by `shift` pixels)."""
    return Instance(Box(x, y, x + 10, y + 10, 0, score),
                    MaskInstance(0, score, np.ones((10, 10), bool), (int(x) + shift, int(y))))


def measure_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: list[Instance],
                 converted: list[Instance]) -> dict[str, Any]:
    def fake(model: Path, images: list[Path], model_info: dict[str, Any], conf: float) -> list[list[Instance]]:
        assert conf == RANKING_CONF
        return [source if model.stem == "source" else converted]

    monkeypatch.setattr(segmentation_accuracy, "instances", fake)
    figures: dict[str, Any] = segmentation_accuracy.measure_segmentation(
        tmp_path / "source.onnx", tmp_path / "converted.onnx", [tmp_path / "a.png"], {**SEGMENT, "conf_threshold": 0.5})
    return figures


BOX_KEYS = {"images": 1, "reference": "the source model's detections"}


def test_a_source_mask_scored_exactly_at_the_threshold_is_under_it(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    figures = measure_fake(monkeypatch, tmp_path, [instance(0, 0, 0.9), instance(40, 40, 0.5)],
                           [instance(40, 40, 0.55), instance(0, 0, 0.52)])
    # the converted model ranks the one the source scored 0.5 first: counted as new, it would halve the mAP
    assert figures == {**BOX_KEYS, "source_detections": 1, "converted_detections": 2, "matched": 1,
                       "map50_vs_source": 1.0, "accuracy_drop": 0.0, "score_drift_mean": 0.38, "score_drift_max": 0.38,
                       "source_masks": 1, "mask_map50_vs_source": 1.0, "mask_map50_95_vs_source": 1.0,
                       "mask_accuracy_drop": 0.0}


def test_a_detection_on_a_reported_one_counts_although_one_under_the_threshold_is_near(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    figures = measure_fake(monkeypatch, tmp_path, [instance(0, 0, 0.9), instance(2, 0, 0.45)], [instance(0, 0, 0.5)])
    assert figures["source_masks"] == 1 and figures["mask_map50_vs_source"] == 1.0, figures


@pytest.mark.parametrize(("score", "mask_map"), [(0.6, 0.0), (0.5, 1.0)])
def test_when_the_source_reports_no_mask(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, score: float,
                                         mask_map: float) -> None:
    # a mask the converted model reports (above the threshold) is new; one exactly at it is not reported
    figures = measure_fake(monkeypatch, tmp_path, [instance(0, 0, 0.3)], [instance(40, 40, score)])
    assert figures == {**BOX_KEYS, "source_detections": 0, "converted_detections": 1, "matched": 0,
                       "map50_vs_source": 0.0, "accuracy_drop": 1.0, "score_drift_mean": 0.0, "score_drift_max": 0.0,
                       "source_masks": 0, "mask_map50_vs_source": mask_map, "mask_map50_95_vs_source": mask_map,
                       "mask_accuracy_drop": 1.0 - mask_map}


def test_mask_figures_are_rounded_to_four_places(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a new detection ranked first, one found again exactly, one with its mask moved by a pixel, one lost
    figures = measure_fake(monkeypatch, tmp_path, [instance(0, 0, 0.9), instance(20, 20, 0.8), instance(40, 0, 0.7)],
                           [instance(0, 40, 0.95), instance(0, 0, 0.9), instance(20, 20, 0.8, shift=1)])
    assert figures == {**BOX_KEYS, "source_detections": 3, "converted_detections": 3, "matched": 2,
                       "map50_vs_source": 0.4422, "accuracy_drop": 0.5578, "score_drift_mean": 0.0,
                       "score_drift_max": 0.0, "source_masks": 3, "mask_map50_vs_source": 0.4422,
                       "mask_map50_95_vs_source": 0.3601, "mask_accuracy_drop": 0.5578}


# --- classification figures -----------------------------------------------------------------------------------------

def fake_probabilities(monkeypatch: pytest.MonkeyPatch, source: list[list[float]],
                       converted: list[list[float]]) -> None:
    def fake(model: Path, images: list[Path], model_info: dict[str, Any]) -> np.ndarray:
        return np.asarray(source if model.stem == "source" else converted, np.float32).reshape(-1, 3)

    monkeypatch.setattr(classification_accuracy, "class_probabilities", fake)


CLASSIFIED = {"reference": "the source model's class probabilities"}


def test_classification_figures_of_a_known_case(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_probabilities(monkeypatch, [[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]],
                       [[0.61234, 0.28766, 0.1], [0.2, 0.55432, 0.24568], [0.6, 0.31, 0.09]])
    figures = measure_classification(tmp_path / "source.onnx", tmp_path / "converted.onnx", [], {})
    # two of three images keep their class; the probabilities moved by 0.0782 on average, 0.2543 at most
    assert figures == {"images": 3, **CLASSIFIED, "top1_agreement": 0.6667, "accuracy_drop": 0.3333,
                       "probability_difference_mean": 0.0782, "probability_difference_max": 0.2543}


def test_one_image_of_another_class(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_probabilities(monkeypatch, [[0.6, 0.4, 0.0]], [[0.4, 0.6, 0.0]])
    figures = measure_classification(tmp_path / "source.onnx", tmp_path / "converted.onnx", [], {})
    assert figures == {"images": 1, **CLASSIFIED, "top1_agreement": 0.0, "accuracy_drop": 1.0,
                       "probability_difference_mean": 0.1333, "probability_difference_max": 0.2}


def test_a_classifier_read_as_probabilities_by_default_and_without_readable_images(tmp_path: Path) -> None:
    model = classification_package(tmp_path / "classifier") / "model.onnx"  # ends in a softmax
    info = {"categories": CLASSES, "resolution": SIZE, "output_layout": "classification"}  # no `scores`
    images = dark_images(tmp_path, 2)
    figures = measure_classification(model, model, images, info)
    assert figures == {"images": 2, **CLASSIFIED, "top1_agreement": 1.0, "accuracy_drop": 0.0,
                       "probability_difference_mean": 0.0, "probability_difference_max": 0.0}
    unreadable = tmp_path / "broken.png"
    unreadable.write_bytes(b"not an image")
    assert class_probabilities(model, [unreadable], info).shape == (0, 3)
    assert measure_classification(model, model, [unreadable], info) == {
        "images": 0, **CLASSIFIED, "top1_agreement": 1.0, "accuracy_drop": 0.0,
        "probability_difference_mean": 0.0, "probability_difference_max": 0.0}


def test_probabilities_of_a_model_that_is_no_classifier_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected a classification model, the outputs read as ultralytics$"):
        class_probabilities(box_model(tmp_path / "boxes.onnx", COLUMNS), dark_images(tmp_path, 1), BOXES)
