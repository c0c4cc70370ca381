"""The reference trainer's data: validation split, input size, augmented samples and per-cell targets."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from loop_reference_trainer.data import Split, _placement, _warp, input_size, sample, targets
from loop_reference_trainer.network import STRIDE
from loop_reference_trainer.train import VALIDATION_FRACTION, split_items


def items(n: int, test: int = 0) -> list[dict]:
    return [{"id": str(uuid.UUID(int=k + 1)), "set": "test" if k < test else "train"} for k in range(n + test)]


def test_validation_split_is_stable_disjoint_and_never_touches_the_test_set() -> None:
    data = items(400, test=50)
    train, validation, test, separate = split_items(data)
    assert separate and len(test) == 50
    assert {i["id"] for i in train}.isdisjoint(i["id"] for i in validation)
    assert len(train) + len(validation) == 400
    assert abs(len(validation) / 400 - VALIDATION_FRACTION) < 0.06
    # the same images whatever the order they came in
    again = split_items(list(reversed(data)))
    assert {i["id"] for i in again[1]} == {i["id"] for i in validation}


@pytest.mark.parametrize("n", [4, 5, 6])
def test_small_projects_keep_at_least_one_validation_image(n: int) -> None:
    train, validation, _, separate = split_items(items(n))
    assert separate and len(validation) >= 1 and len(train) >= 1


def test_tiny_projects_validate_on_their_training_images() -> None:
    train, validation, test, separate = split_items(items(1))
    assert not separate and train == validation and len(train) == 1 and test == []


@pytest.mark.parametrize(("shape", "expected"), [((320, 416), (288, 384)), ((240, 320), (288, 384)),
                                                  ((500, 500), (384, 384)), ((640, 360), (384, 224))])
def test_input_size_follows_the_aspect_ratio(shape: tuple[int, int], expected: tuple[int, int]) -> None:
    split = Split(["a"], [np.zeros((*shape, 3), np.uint8)], [np.zeros((0, 5), np.float32)])
    assert input_size([split], 384) == expected


def test_targets_give_small_objects_their_cell_and_contested_cells_to_the_smaller() -> None:
    height, width = 64, 96
    small = (41.0, 17.0, 51.0, 27.0, 1)          # 10 px, centre (46, 22)
    large = (8.0, 8.0, 88.0, 56.0, 0)
    box, cls, share = targets(np.array([large, small], np.float32), height, width)
    grid_w = width // STRIDE
    centre = int(22 // STRIDE) * grid_w + int(46 // STRIDE)
    assert cls[centre] == 1 and tuple(box[centre]) == small[:4]
    assert (cls == 0).sum() >= 9                  # the large object keeps many cells
    assert set(np.unique(cls)) == {-1, 0, 1}
    # each object weighs 1 in all, spread over its cells; cells learning nothing weigh 0
    assert share[cls == 0].sum() == pytest.approx(1.0) and share[cls == 1].sum() == pytest.approx(1.0)
    assert share[cls == 0].max() < share[cls == 1].min()
    assert not share[cls == -1].any()


def test_targets_of_a_sample_without_objects() -> None:
    box, cls, share = targets(np.zeros((0, 5), np.float32), 64, 96)
    assert (cls == -1).all() and not box.any() and not share.any()


def test_samples_keep_boxes_on_their_objects() -> None:
    """An augmented sample's boxes frame the drawn rectangles: the pixels inside are the object's colour."""
    rng = np.random.default_rng(3)
    images, boxes = [], []
    for _ in range(4):
        image = np.full((120, 160, 3), 30, np.uint8)
        x, y = int(rng.integers(10, 100)), int(rng.integers(10, 60))
        image[y:y + 40, x:x + 50] = (250, 250, 250)
        images.append(image)
        boxes.append(np.array([[x, y, x + 50, y + 40, 0]], np.float32))
    split = Split(["a", "b", "c", "d"], images, boxes)
    for k in range(30):
        image, found = sample(split, k % 4, 96, 128, np.random.default_rng(k), mosaic=k % 2 == 0,
                              turned=0.5 if k % 3 else 0.0)
        assert image.shape == (96, 128, 3) and image.dtype == np.uint8
        assert len(found) >= 1
        for x1, y1, x2, y2, _ in found:
            assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 96
            inner = image[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
            if inner.size:
                # the bright object, not the dark background or the grey border (the same jitter for all three)
                assert inner.mean() > np.median(image) + 0.2 * 255, (k, x1, y1, x2, y2)


@pytest.mark.parametrize("seed", [0, 1])
def test_sample_boxes_are_centred_on_their_objects_to_a_fraction_of_a_pixel(seed: int) -> None:
    """Scaled, shifted, flipped and turned, an object's box stays centred on the object's pixels (their
    brightness-weighted centre; interpolation keeps it): boxes a pixel off teach small objects' sides a pixel off."""
    rng = np.random.default_rng(seed)
    image = np.full((120, 160, 3), 114, np.uint8)  # the grey the warp fills the border with
    image[37:61, 52:81] = 255
    boxes = np.array([[52, 37, 81, 61, 0]], np.float32)
    offsets = []
    for _ in range(40):
        out = np.zeros((96, 128, 3), np.uint8)
        matrix = _placement(image.shape, 96, 128, rng.uniform(0.75, 1.3), rng, rng.random() < 0.5,
                            int(rng.integers(0, 4)))
        found = _warp(image, boxes, matrix, out, (0, 0, 128, 96))
        if len(found) != 1 or not (found[0, 0] > 2 and found[0, 1] > 2 and found[0, 2] < 126 and found[0, 3] < 94):
            continue  # cut by the border: its pixels' centre is not the box's
        weight = out[..., 0].astype(np.float64) - 114
        ys, xs = np.mgrid[0:96, 0:128] + 0.5  # pixel i's centre is at i + 0.5
        centre = ((weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum())
        offsets.append((centre[0] - (found[0, 0] + found[0, 2]) / 2, centre[1] - (found[0, 1] + found[0, 3]) / 2))
    assert len(offsets) >= 20
    assert np.abs(np.array(offsets)).max() < 0.3, offsets  # a flip put them a pixel off before
    sides = []
    for turns in range(4):
        out = np.zeros((96, 128, 3), np.uint8)
        x1, y1, x2, y2, _ = _warp(image, boxes, _placement(image.shape, 96, 128, 1.0, rng, False, turns), out,
                                  (0, 0, 128, 96))[0]
        sides.append((round(float(x2 - x1)), round(float(y2 - y1))))
    scale = min(128 / 160, 96 / 120)  # upright; turned, the image is 120 wide and 160 high
    turned_scale = min(128 / 120, 96 / 160)
    assert sides[0] == sides[2] == (round(29 * scale), round(24 * scale))
    assert sides[1] == sides[3] == (round(24 * turned_scale), round(29 * turned_scale))  # width and height swap
