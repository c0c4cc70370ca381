"""The serving path's in-place letterbox gives the model exactly the tensor training and calibration give it."""

from __future__ import annotations

import numpy as np
import pytest

from loop_shared.imaging import letterbox, letterbox_into, to_tensor


@pytest.mark.parametrize("shape", [(240, 320), (480, 200), (256, 256), (31, 700), (1, 1)])
@pytest.mark.parametrize("keep_ratio", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_letterbox_into_equals_letterbox_then_to_tensor(shape: tuple[int, int], keep_ratio: bool,
                                                        dtype: type[np.floating]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected, geometry = letterbox(image, 256, 192, keep_ratio)
    out = np.full((1, 3, 192, 256), -1, dtype)  # garbage from an earlier image must not survive
    assert letterbox_into(image, out, keep_ratio) == geometry
    assert np.array_equal(out, to_tensor(expected, dtype))


def test_letterbox_never_hands_back_the_callers_array() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    resized, _ = letterbox(image, 64, 64)
    resized[0, 0] = 1
    assert image[0, 0, 0] == 0
