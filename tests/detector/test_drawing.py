"""Detections drawn onto the image for `POST /detect?draw=true`."""

from __future__ import annotations

import numpy as np

from loop_detector.drawing import PALETTE, colour_of, draw
from loop_shared.schemas import BoxDetection, ImageMetadata, Point, PointDetection, SegmentationDetection, Shape


def test_boxes_points_and_segmentations_are_drawn_in_their_category_colour() -> None:
    image = np.full((200, 300, 3), 128, np.uint8)
    metadata = ImageMetadata(
        box_detections=[BoxDetection(category_name="red circle", x=40, y=60, width=80, height=50, model_name="1",
                                     confidence=0.9)],
        point_detections=[PointDetection(category_name="purple point", x=250.0, y=150.0, model_name="1",
                                         confidence=0.8)],
        segmentation_detections=[SegmentationDetection(
            category_name="blob", model_name="1", confidence=0.7,
            shape=Shape(points=[Point(x=150, y=20), Point(x=200, y=20), Point(x=200, y=60), Point(x=150, y=60)]))])
    drawn = draw(image, metadata, {"red circle": "#d72828", "purple point": "#7828aa"})
    assert drawn.shape == image.shape and np.array_equal(image, np.full((200, 300, 3), 128, np.uint8))
    assert drawn[85, 40].tolist() == [215, 40, 40]  # the left edge of the box, below its label
    assert drawn[150, 250].tolist() == [120, 40, 170]  # the point's centre
    inside = drawn[45, 175].astype(int)  # a blended fill inside the polygon
    assert not np.array_equal(inside, [128, 128, 128]) and inside.tolist() != list(colour_of("blob", {}))
    assert drawn[180, 20].tolist() == [128, 128, 128]  # elsewhere nothing changed


def test_a_category_without_a_colour_gets_a_stable_one_from_the_palette() -> None:
    assert colour_of("thing", {}) == colour_of("thing", {"thing": "not-a-colour"}) in PALETTE
