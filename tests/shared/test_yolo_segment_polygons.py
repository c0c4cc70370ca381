"""All polygons of one image at once (loop_shared.yolo_segment.instance_polygons): the outline of each instance's
own mask (`instance_mask`, then `mask_polygon`), for whole upsamplings (the resize) and other scales (the warp)."""

from __future__ import annotations

import numpy as np
import pytest

from loop_shared.imaging import Letterbox
from loop_shared.yolo_segment import instance_mask, instance_polygon, instance_polygons, mask_polygon

INPUT = (128, 128)  # model input; prototypes of 32 x 32


def instances(rng: np.random.Generator, count: int, lb: Letterbox, width: int,
              height: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """Mask coefficients [K, 3], boxes in model pixels [K, 4] (float32, as a model gives them) and the same boxes in
    image pixels, clipped to the image as the detector's are."""
    coefficients = rng.standard_normal((count, 3)).astype(np.float32)
    boxes, image_boxes = [], []
    for _ in range(count):
        x1, y1 = rng.uniform(0, width - 4), rng.uniform(0, height - 4)
        x2, y2 = rng.uniform(x1 + 2, width), rng.uniform(y1 + 2, height)
        boxes.append([x1 * lb.scale_x + lb.pad_x, y1 * lb.scale_y + lb.pad_y, x2 * lb.scale_x + lb.pad_x,
                      y2 * lb.scale_y + lb.pad_y])
        x, y = round(x1), round(y1)
        image_boxes.append((x, y, round(x2) - x, round(y2) - y))
    return coefficients, np.asarray(boxes, np.float32), image_boxes


@pytest.mark.parametrize(("lb", "width", "height"), [
    (Letterbox(1.0, 1.0, 0.0, 16.0), 128, 96),    # the model input's own size, letterboxed: a resize by 4
    (Letterbox(0.5, 0.5, 0.0, 16.0), 256, 192),   # twice the input: a resize by 8
    (Letterbox(0.3, 0.3, 0.0, 16.0), 426, 320),   # not a whole multiple: the warp
])
def test_each_polygon_is_the_outline_of_the_instances_own_mask(lb: Letterbox, width: int, height: int) -> None:
    rng = np.random.default_rng(width)
    # smooth prototypes: blobs, so that masks have outlines worth comparing
    v, u = np.mgrid[0:32, 0:32] / 32.0
    protos = np.stack([np.sin(6 * u + 1) + np.cos(5 * v), np.cos(7 * u) * np.sin(4 * v + 2), u - v]).astype(
        np.float32)
    coefficients, boxes, image_boxes = instances(rng, 40, lb, width, height)
    polygons = instance_polygons(coefficients, protos, boxes, INPUT, lb, image_boxes)
    outlined = 0
    for coefficient, box, image_box, polygon in zip(coefficients, boxes, image_boxes, polygons, strict=True):
        if image_box[2] < 1 or image_box[3] < 1:
            assert polygon is None
            continue
        expected = mask_polygon(instance_mask(coefficient, protos, box, INPUT, lb, image_box), image_box[:2])
        assert polygon == expected
        assert polygon == instance_polygon(coefficient, protos, box, INPUT, lb, image_box)
        outlined += polygon is not None
    assert outlined >= 10  # most instances have a mask: the comparison is not between Nones


def test_no_instances_no_polygons() -> None:
    protos = np.zeros((3, 32, 32), np.float32)
    assert instance_polygons(np.zeros((0, 3), np.float32), protos, np.zeros((0, 4), np.float32), INPUT,
                             Letterbox(1.0, 1.0, 0.0, 0.0), []) == []
