"""Average precision of detections against reference boxes, on cases whose answer is known by hand."""

from __future__ import annotations

import math

import pytest

from loop_shared.detection_metrics import Box, compare


def box(x: float, y: float, category: int = 0, score: float = 1.0, size: float = 10.0) -> Box:
    return Box(x, y, x + size, y + size, category, score)


def test_identical_detections_score_one_with_no_drift() -> None:
    refs = [[box(0, 0, score=0.9), box(20, 20, 1, 0.6)], [box(5, 5, score=0.7)]]
    result = compare(refs, refs)
    assert result.mean_ap == 1.0 and result.ap == {0: 1.0, 1: 1.0} and result.score_drift == [0.0] * 3


def test_a_missed_box_halves_the_recall() -> None:
    result = compare([[box(0, 0), box(50, 50)]], [[box(0, 0, score=0.8)]])
    assert result.ap[0] == pytest.approx(51 / 101)  # precision 1 up to recall 0.5, nothing beyond


def test_a_confident_false_positive_halves_the_precision() -> None:
    result = compare([[box(0, 0)]], [[box(40, 40, score=0.9), box(0, 0, score=0.8)]])
    assert result.ap[0] == pytest.approx(0.5)


def test_iou_threshold_class_and_score_drift() -> None:
    refs = [[box(0, 0, score=0.9)]]
    assert compare(refs, [[box(4, 0, score=0.7)]]).mean_ap == 0.0  # IoU 6/14 < 0.5
    assert compare(refs, [[box(2, 0, score=0.7)]]).score_drift == [pytest.approx(0.2)]  # IoU 8/12
    assert compare(refs, [[box(0, 0, category=1)]]).ap == {0: 0.0}  # right place, wrong class


def test_each_reference_box_matches_once() -> None:
    result = compare([[box(0, 0)]], [[box(0, 0, score=0.9), box(0, 0, score=0.8)]])
    assert result.ap[0] == 1.0 and result.matched == 1  # the duplicate is a false positive after the recall is 1


def test_no_reference_boxes_gives_no_mean() -> None:
    assert math.isnan(compare([[]], [[box(0, 0)]]).mean_ap)
