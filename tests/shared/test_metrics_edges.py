"""Edges of the accuracy metrics that the mutation run (make mutate MUTATE=accuracy-metrics) found untested."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from loop_shared.detection_metrics import Box, average_precision, compare, greedy_match, pairwise_iou
from loop_shared.mask_metrics import MaskInstance, mask_iou, mask_map, polygon_mask
from tests.shared.test_mask_metrics import rect

# --- boxes -------------------------------------------------------------------------------------------------------


def random_boxes(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """x1 y1 x2 y2, neither square nor symmetric, many disjoint in x or y only."""
    x1, y1 = rng.uniform(0, scale, n), rng.uniform(0, scale, n)
    return np.stack([x1, y1, x1 + rng.uniform(0, scale / 2, n), y1 + rng.uniform(0, scale / 3, n)], axis=1)


def xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


@pytest.mark.parametrize("scale", [1.0, 100.0])  # normalised coordinates and pixels: IoU does not depend on scale
def test_pairwise_iou_agrees_with_pycocotools(scale: float) -> None:
    rng = np.random.default_rng(7)
    a, b = random_boxes(rng, 30, scale), random_boxes(rng, 20, scale)
    ours = pairwise_iou(a, b)
    theirs = coco_mask.iou(xywh(a), xywh(b), [0] * len(b))
    assert ours.dtype == np.float64  # numbers, not objects: callers take isnan, max and where of it
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert (ours == 0).mean() > 0.3 and (ours > 0).sum() > 20  # both kinds of pairs are there


def test_boxes_without_area_overlap_nothing() -> None:
    point = np.array([[5.0, 5.0, 5.0, 5.0], [2.0, 1.0, 2.0, 9.0]])  # a point and a vertical line
    assert pairwise_iou(point, point).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_float32_boxes_are_scored_in_float64_at_the_threshold() -> None:
    # a model's boxes come as float32; areas of 4097 x 4099 and 4097 x 8198 need 25 bits, so float32 areas would
    # round and put this IoU of exactly 1/2 just under the threshold
    f = np.float32
    reference = Box(f(0), f(0), f(4097), f(8198), 0, f(0.9))
    candidate = Box(f(0), f(0), f(4097), f(4099), 0, f(0.8))
    assert compare([[reference]], [[candidate]], threshold=0.5).ap == {0: 1.0}


def test_ignored_box_at_the_iou_threshold_and_the_drift_limit_is_ignored() -> None:
    refs = [[Box(50, 50, 60, 60, 0, 0.6)]]
    candidates = [[Box(0, 0, 10, 10, 0, 0.75), Box(50, 50, 60, 60, 0, 0.6)]]
    at_limits = [[Box(0, 0, 10, 20, 0, 0.5)]]  # IoU with the first candidate exactly 0.5, score 0.25 apart
    assert compare(refs, candidates, ignored=at_limits, ignored_drift=0.25).mean_ap == 1.0
    assert compare(refs, candidates, ignored=at_limits, ignored_drift=0.125).mean_ap == pytest.approx(0.5)
    # without a drift given, only an ignored box of the very same score ignores anything
    assert compare(refs, candidates, ignored=at_limits).mean_ap == pytest.approx(0.5)
    same_score = [[Box(0, 0, 10, 20, 0, 0.75)]]
    assert compare(refs, candidates, ignored=same_score).mean_ap == 1.0


def test_lists_of_different_lengths_are_refused() -> None:
    one = [[Box(0, 0, 10, 10, 0)]]
    with pytest.raises(ValueError):
        compare(one, [*one, *one])
    with pytest.raises(ValueError):
        compare([*one, *one], one)
    with pytest.raises(ValueError, match=r"^2 lists of ignored boxes for 1 images$"):
        compare(one, one, ignored=[[], []])


def test_no_reference_boxes_give_nan_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" in the converter's log
        assert math.isnan(compare([[], []], [[Box(0, 0, 10, 10, 0)], []]).mean_ap)


def test_average_precision_with_nothing_to_find_is_nan() -> None:
    assert math.isnan(average_precision(np.array([0.9, 0.4]), np.array([0.0, 0.0]), 0))
    assert math.isnan(average_precision(np.zeros(0), np.zeros(0), 0))


def test_greedy_match_marks_the_unmatched_with_minus_one() -> None:
    overlap = np.array([[0.4, 0.6], [0.7, 0.2], [0.9, 0.8], [0.1, 0.3]])
    # the third candidate overlaps both references most but they are taken; the fourth overlaps too little
    assert greedy_match(overlap, 0.5).tolist() == [1, 0, -1, -1]
    assert greedy_match(np.zeros((2, 0)), 0.5).tolist() == [-1, -1]


# --- masks -------------------------------------------------------------------------------------------------------


def test_masks_side_by_side_in_the_same_rows_do_not_overlap() -> None:
    wide_right, left = rect(10, 0, 24, 4), rect(0, 0, 4, 4)  # rows shared, columns 6 apart
    assert mask_iou(np.stack([wide_right, left]), np.stack([left, wide_right])).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_one_pixel_instances_are_found() -> None:
    pixel = rect(5, 7, 6, 8)
    assert mask_iou(pixel[None], pixel[None]).tolist() == [[1.0]]
    assert mask_map([[MaskInstance(0, 1, pixel)]], [[MaskInstance(0, 0.9, pixel)]], 1) == (1.0, 1.0)


def test_masks_of_other_dtypes_count_by_their_set_pixels() -> None:
    reference, candidate = rect(0, 0, 10, 10), rect(0, 0, 10, 8)  # IoU 0.8
    as_float = MaskInstance(0, 1, reference.astype(np.float32))  # a model's mask, thresholded
    as_image = MaskInstance(0, 0.7, candidate.astype(np.uint8) * 255)  # a mask read from a PNG
    assert mask_map([[as_float]], [[as_image]], 1) == (1.0, pytest.approx(7 / 10))
    assert mask_iou(reference[None].astype(np.float32), candidate[None].astype(np.uint8) * 255)[0, 0] == 0.8


def test_masks_of_different_sizes_and_lists_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^masks of different sizes: \(24, 32\) and \(12, 16\)$"):
        mask_iou(rect(0, 0, 4, 4)[None], np.zeros((1, 12, 16), bool))
    with pytest.raises(ValueError, match=r"^2 candidate lists for 1 images$"):
        mask_map([[]], [[], []], 1)


def test_a_triangle_fills_with_its_boundary() -> None:
    triangle = polygon_mask([(0, 0), (8, 0), (0, 8)], 12, 12)
    assert triangle.sum() == 9 + 8 + 7 + 6 + 5 + 4 + 3 + 2 + 1 and triangle[8, 0] and not triangle[9, 0]


def test_a_degenerate_polygon_is_an_empty_bool_mask() -> None:
    line = polygon_mask([(1, 1), (6, 6)], 12, 12)
    assert line.dtype == np.bool_ and not line.any()
    # one instance drawn as several polygons is their union, whatever their shape
    assert (line | polygon_mask([(0, 0), (8, 0), (0, 8)], 12, 12)).sum() == 45
