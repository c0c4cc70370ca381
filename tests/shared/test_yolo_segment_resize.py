"""The resize that stands in for the warp when a mask's map onto image pixels is a whole upsampling
(loop_shared.yolo_segment): the same logits as the warp, and the warp wherever it is not one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from loop_shared import yolo_segment


def warped(logits: np.ndarray, a: float, bx: float, by: float, width: int, height: int) -> np.ndarray:
    return cv2.warpAffine(logits, np.array([[a, 0.0, bx], [0.0, a, by]]), (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6, 8])
def test_a_whole_upsampling_gives_the_warps_logits(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(200):
        rows, cols = (int(n) for n in rng.integers(2, 30, 2))
        logits = rng.standard_normal((rows, cols)).astype(np.float32)
        width, height = int(rng.integers(1, cols * k + 1)), int(rng.integers(1, rows * k + 1))
        ox, oy = int(rng.integers(0, cols * k - width + 1)), int(rng.integers(0, rows * k - height + 1))
        bx, by = (ox + 0.5) / k - 0.5, (oy + 0.5) / k - 0.5
        resized = yolo_segment._aligned_resize(logits, 1 / k, bx, 1 / k, by, width, height)
        assert resized is not None and resized.shape == (height, width)
        assert np.abs(resized - warped(logits, 1 / k, bx, by, width, height)).max() < 1e-4


def test_other_maps_are_left_to_the_warp() -> None:
    logits = np.ones((8, 8), np.float32)
    assert yolo_segment._aligned_resize(logits, 0.3, 0.0, 0.3, 0.0, 10, 10) is None  # not a whole 1/k
    assert yolo_segment._aligned_resize(logits, 0.25, 0.1, 0.25, -0.375, 10, 10) is None  # between pixels
    assert yolo_segment._aligned_resize(logits, 0.25, -0.375, 0.25, -0.375, 33, 10) is None  # past the edge
