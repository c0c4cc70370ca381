"""Copy-paste augmentation: pasted objects carry their pixels, box and outline to where they are pasted."""

from __future__ import annotations

import cv2
import numpy as np

from loop_reference_trainer.copy_paste import MAX_COVERED, paste, sources
from loop_reference_trainer.data import Split, batch, sample_outlines

HEIGHT, WIDTH = 96, 128
RED = (250, 20, 20)
# an irregular outline (continuous coordinates) of 30 x 26 px in a 64 x 48 source image
OUTLINE = np.array([[10.0, 12.0], [30.0, 8.0], [40.0, 20.0], [34.0, 34.0], [16.0, 32.0], [12.0, 22.0]])


def _source() -> Split:
    """Image 0: a red polygon on grey (its outline and box); image 1: black with a box object only."""
    image = np.full((48, 64, 3), 90, np.uint8)
    cv2.fillPoly(image, [np.round((OUTLINE - 0.5) * 16).astype(np.int32)], RED, shift=4)
    (x1, y1), (x2, y2) = OUTLINE.min(axis=0), OUTLINE.max(axis=0)
    boxes = [np.array([[x1, y1, x2, y2, 2]], np.float32), np.array([[4, 4, 20, 20, 0]], np.float32)]
    return Split(["a", "b"], [image, np.zeros((48, 64, 3), np.uint8)], boxes, [[OUTLINE], [None]])


def _inside(outline: np.ndarray) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.round((outline - 0.5) * 16).astype(np.int32)], 255, shift=4)
    return mask > 0


def test_sources_are_the_objects_with_an_outline() -> None:
    assert sources(_source()) == [(0, 0)]
    assert sources(Split(["b"], [np.zeros((8, 8, 3), np.uint8)], [np.zeros((0, 5), np.float32)], [])) == []


def test_pasted_pixels_box_and_outline_land_together() -> None:
    split = _source()
    for seed in range(20):
        out = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        boxes, outlines = paste(out, np.zeros((0, 5), np.float32), [], split, sources(split),
                                np.random.default_rng(seed))
        assert len(boxes) == len(outlines) >= 1
        covered = np.zeros((HEIGHT, WIDTH), bool)
        for row, outline in zip(boxes, outlines, strict=True):
            assert outline is not None
            points, region = outline
            assert region == (0, 0, WIDTH, HEIGHT) and row[4] == 2
            # the box bounds the outline, half a scaled pixel beyond it at most (scale <= 2.8 here)
            assert (row[:2] <= points.min(axis=0)).all() and (row[2:4] >= points.max(axis=0)).all()
            assert (points.min(axis=0) - row[:2] <= 1.5).all() and (row[2:4] - points.max(axis=0) <= 1.5).all()
            assert row[0] >= 0 and row[1] >= 0 and row[2] <= WIDTH and row[3] <= HEIGHT
            inside = _inside(points)
            core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            assert core.any()
            # red where the outline is (what lies under an earlier pasted object may be covered by a later one)
            red = (out[..., 0] > 200) & (out[..., 1] < 60) & (out[..., 2] < 60)
            visible = core & ~covered
            assert not visible.any() or red[visible].mean() > 0.95
            covered |= cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # nothing of the source's grey background comes along, nothing is painted outside the outlines
        assert not out[~covered].any()


def test_pasted_objects_leave_the_objects_already_there_visible() -> None:
    split = _source()
    there = np.array([[20, 20, 100, 76, 0]], np.float32)
    for seed in range(20):
        out = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        boxes, _ = paste(out, there, [None], split, sources(split), np.random.default_rng(seed))
        assert (boxes[0] == there[0]).all()
        for x1, y1, x2, y2, _ in boxes[1:]:
            ix = max(0.0, min(x2, 100) - max(x1, 20))
            iy = max(0.0, min(y2, 76) - max(y1, 20))
            assert ix * iy <= MAX_COVERED * 80 * 56


def test_a_sample_with_copy_paste_has_more_outlined_objects_and_one_without_outlines_draws_nothing() -> None:
    split = _source()
    _, boxes, outlines = sample_outlines(split, 1, HEIGHT, WIDTH, np.random.default_rng(0), False,
                                         copy_paste=1.0, pool=sources(split))
    assert len(boxes) == len(outlines) and sum(o is not None for o in outlines) >= 1
    # a box-only split: copy_paste changes nothing, not even the random numbers drawn
    plain = Split(["b"], [np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)], [split.boxes[1]], [])
    with_it = batch(plain, np.zeros(4, int), HEIGHT, WIDTH, np.random.default_rng(3), 0.5, copy_paste=1.0)
    without = batch(plain, np.zeros(4, int), HEIGHT, WIDTH, np.random.default_rng(3), 0.5)
    assert all((a == b).all() for a, b in zip(with_it, without, strict=True))
