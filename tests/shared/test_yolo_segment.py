"""Instance masks from coefficients and prototypes: where the 0.5 boundary lands in image pixels, and outlines."""

from __future__ import annotations

import numpy as np

from loop_shared.imaging import Letterbox
from loop_shared.yolo_segment import coefficients, instance_mask, mask_polygon

INPUT = (64, 64)  # model input; prototypes of 16 x 16, one per 4 x 4 model pixels


def ramps() -> np.ndarray:
    """Prototype 0 rises by 1 per prototype pixel from left to right, prototype 1 from top to bottom; both are 0
    (a probability of 0.5) at prototype coordinate 8, model pixel 32."""
    centres = np.arange(16, dtype=np.float32) + 0.5 - 8.0
    return np.stack([np.tile(centres, (16, 1)), np.tile(centres[:, None], (1, 16))])


def test_the_half_probability_boundary_lands_where_the_letterbox_puts_it() -> None:
    # a 32 x 16 image, scaled by 2 into the 64 x 64 input with 16 rows of padding above: model x 32 is image x 16,
    # model y 32 is image y 8
    lb = Letterbox(2.0, 2.0, 0.0, 16.0)
    region = (0, 0, 32, 16)
    left_right = instance_mask(np.array([1.0, 0.0], np.float32), ramps(), np.array([0, 0, 64, 64]), INPUT, lb,
                               region)
    assert left_right.shape == (16, 32)
    assert (left_right[:, 16:] == 1).all() and (left_right[:, :16] == 0).all()
    top_bottom = instance_mask(np.array([0.0, 1.0], np.float32), ramps(), np.array([0, 0, 64, 64]), INPUT, lb,
                               region)
    assert (top_bottom[8:] == 1).all() and (top_bottom[:8] == 0).all()


def test_a_region_inside_the_image_is_offset_and_both_prototypes_combine() -> None:
    lb = Letterbox(1.0, 1.0, 0.0, 0.0)
    # x + y > 0 in prototype units: the diagonal through model pixel (32, 32)
    mask = instance_mask(np.array([1.0, 1.0], np.float32), ramps(), np.array([16, 16, 48, 48]), INPUT, lb,
                         (16, 16, 32, 32))
    v, u = np.mgrid[0:32, 0:32]
    expected = ((u + 16.5) + (v + 16.5) > 64).astype(np.uint8)
    assert (mask == expected).all()


def test_outlines_keep_the_largest_part_in_whole_pixels() -> None:
    mask = np.zeros((40, 60), np.uint8)
    mask[5:15, 10:30] = 1   # 200 pixels
    mask[20:24, 40:44] = 1  # a smaller part: left out
    polygon = mask_polygon(mask, (100, 200))
    assert polygon is not None
    assert sorted(polygon) == [(110, 205), (110, 214), (129, 205), (129, 214)]
    assert all(type(x) is int and type(y) is int for x, y in polygon)
    assert mask_polygon(np.zeros((10, 10), np.uint8), (0, 0)) is None


def test_coefficients_of_kept_candidates_only() -> None:
    output = np.arange(1 * (4 + 2 + 3) * 5, dtype=np.float32).reshape(1, 9, 5)
    kept = coefficients(output, 2, np.array([3, 1]))
    assert kept.shape == (2, 3)
    assert kept.tolist() == [output[0, 6:, 3].tolist(), output[0, 6:, 1].tolist()]
