"""`POST /detect?draw=true` on segmentations and classifications: a mask tints exactly its polygon, the classes are
listed in the top-left corner."""

from __future__ import annotations

import cv2
import numpy as np

from loop_detector.drawing import colour_of, draw
from loop_shared.schemas import ClassificationDetection, ImageMetadata, Point, SegmentationDetection, Shape

POLYGON = [(60, 100), (220, 120), (180, 220), (80, 200)]  # the first point is the top-left one: the label sits above
COLOURS = {"blob": "#1e90c8", "dog": "#c81e1e", "cat": "#1ec83c"}
BAND = 6  # pixels either side of the outline that the outline (2 px, anti-aliased) may touch


def region(polygon: list[tuple[int, int]], shape: tuple[int, int], grow: int) -> np.ndarray:
    """The polygon's pixels, grown (grow > 0) or shrunk (grow < 0) by `grow` pixels."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.array(polygon, np.int32)], 1)
    kernel = np.ones((2 * abs(grow) + 1, 2 * abs(grow) + 1), np.uint8)
    return (cv2.dilate(mask, kernel) if grow > 0 else cv2.erode(mask, kernel)).astype(bool)


def test_a_mask_is_tinted_inside_its_polygon_and_nothing_outside_changes() -> None:
    image = np.random.default_rng(3).integers(0, 256, (300, 400, 3), np.uint8)
    metadata = ImageMetadata(segmentation_detections=[SegmentationDetection(
        category_name="blob", model_name="1", confidence=0.7,
        shape=Shape(points=[Point(x=x, y=y) for x, y in POLYGON]))])
    drawn = draw(image, metadata, COLOURS).astype(int)
    colour = np.array(colour_of("blob", COLOURS))

    inside = region(POLYGON, image.shape[:2], -BAND)
    expected = image.astype(float) * 0.7 + colour * 0.3
    assert inside.sum() > 10_000
    assert np.abs(drawn[inside] - expected[inside]).max() <= 1  # every inner pixel: 30 % of the category colour

    outside = ~region(POLYGON, image.shape[:2], BAND)
    outside[: POLYGON[0][1] + 1, :] = False  # the label above the first point
    assert np.array_equal(drawn[outside], image[outside].astype(int))

    outline = region(POLYGON, image.shape[:2], 1) & ~region(POLYGON, image.shape[:2], -1)
    on_outline = np.abs(drawn[outline] - colour).sum(axis=1) < 30
    assert on_outline.mean() > 0.8  # outlined in the category colour


def test_classifications_are_listed_in_the_top_left_corner_most_confident_first() -> None:
    image = np.full((240, 320, 3), 128, np.uint8)
    metadata = ImageMetadata(classification_detections=[
        ClassificationDetection(category_name="cat", model_name="1", confidence=0.3),
        ClassificationDetection(category_name="dog", model_name="1", confidence=0.6)])
    drawn = draw(image, metadata, COLOURS)
    column = [tuple(p) for p in drawn[:80, 6].tolist()]
    runs = [c for i, c in enumerate(column) if c != (128, 128, 128) and (i == 0 or column[i - 1] != c)]
    assert runs == [colour_of("dog", COLOURS), colour_of("cat", COLOURS)]
    label = drawn[4:30, 8:120]
    assert (label == 255).all(axis=2).sum() > 40  # white text on the label
    assert np.array_equal(drawn[120:], image[120:])  # nothing else drawn
