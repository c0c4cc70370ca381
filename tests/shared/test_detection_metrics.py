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


def test_a_candidate_like_an_ignored_box_is_neither_hit_nor_miss() -> None:
    refs = [[box(0, 0, score=0.6)]]
    under = [[box(40, 40, score=0.48), box(80, 80, score=0.1)]]  # boxes the source scored under its threshold
    # the one at (40, 40) moved just above the threshold and ranks first: without the ignored boxes it is a false
    # detection at the top (AP 0.5 for one hit after one miss)
    candidates = [[box(40, 40, score=0.55), box(0, 0, score=0.52)]]
    assert compare(refs, candidates).mean_ap == pytest.approx(0.5)
    assert compare(refs, candidates, ignored=under, ignored_drift=0.1).mean_ap == 1.0
    # a box the source scored far lower is a new detection however it overlaps: the drift limit decides
    jumped = [[box(80, 80, score=0.7), box(0, 0, score=0.52)]]
    assert compare(refs, jumped, ignored=under, ignored_drift=0.1).mean_ap == pytest.approx(0.5)
    # an ignored box of another class, or one elsewhere, ignores nothing
    two = [[box(0, 0, score=0.6), box(100, 100, category=1, score=0.6)]]
    other = [[box(40, 40, category=1, score=0.55), box(60, 0, score=0.55), box(0, 0, score=0.52),
              box(100, 100, category=1, score=0.52)]]
    assert compare(two, other, ignored=under, ignored_drift=0.1).ap == {0: pytest.approx(0.5), 1: pytest.approx(0.5)}
    # a candidate that matches a reference is a hit even when it also overlaps an ignored box
    assert compare(refs, [[box(0, 0, score=0.52)]], ignored=[[box(1, 1, score=0.5)]], ignored_drift=0.1).mean_ap == 1.0
