"""The default ONNX logic on an instance-segmentation model in the common export layout, built here with
onnx.helper (independent of the reference trainer): polygons in original image pixels, masks for kept detections
only, and box, point and segmentation categories in one model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from loop_detector import onnx_outputs
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import read_model_info
from loop_shared.schemas import Shape
from loop_shared.settings import load_settings
from loop_shared.yolo import ULTRALYTICS
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT
from loop_testkit.onnx_models import grid_categories
from loop_testkit.onnx_segmenter import GREEN, RED, build_segmenter_onnx, candidate, write_package

SIZE = 128                      # model input; prototypes 32 x 32
WIDTH, HEIGHT = 192, 96         # the image: letterboxed by 2/3 with 32 rows of padding above and below
DISC = ((50, 48), 28)           # red disc: centre and radius in image pixels
GREEN_RECT = (110, 10, 180, 86)  # green rectangle x1, y1, x2, y2 in image pixels (inclusive)
GREEN_BOX = (110, 5, 150, 91)   # the candidate's box covers its left part only: the mask is cropped to it
STRAY_RED = (90, 70, 104, 84)   # a red square whose candidate scores under the threshold
CATEGORIES = grid_categories(("blob", "crate", "pin"), ("segmentation", "box", "point"))


def to_model(box: tuple[float, float, float, float], preprocessing: str) -> tuple[float, float, float, float]:
    """An image-pixel box x1, y1, x2, y2 as the model sees it (centre and size in model pixels)."""
    if preprocessing == "letterbox":
        sx = sy = SIZE / WIDTH
        px, py = 0.0, (SIZE - HEIGHT * sy) / 2
    else:
        sx, sy, px, py = SIZE / WIDTH, SIZE / HEIGHT, 0.0, 0.0
    x1, y1, x2, y2 = box[0] * sx + px, box[1] * sy + py, box[2] * sx + px, box[3] * sy + py
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


def candidates(preprocessing: str) -> list[list[float]]:
    (cx, cy), r = DISC
    disc_box = (cx - r - 3, cy - r - 3, cx + r + 3, cy + r + 3)  # a little loose, as a model's boxes are
    return [
        candidate(*to_model(disc_box, preprocessing), [0.9, 0.0, 0.0], RED),
        candidate(*to_model((disc_box[0] + 1, disc_box[1], disc_box[2] + 1, disc_box[3]), preprocessing),
                  [0.6, 0.0, 0.0], RED),  # the same object again: NMS drops it
        candidate(*to_model(GREEN_BOX, preprocessing), [0.8, 0.0, 0.0], GREEN),
        candidate(*to_model(STRAY_RED, preprocessing), [0.15, 0.0, 0.0], RED),  # under the threshold of 0.2
        candidate(*to_model((160, 60, 190, 90), preprocessing), [0.0, 0.7, 0.0], RED),
        candidate(*to_model((14, 74, 26, 86), preprocessing), [0.0, 0.0, 0.95], GREEN),
    ]


def scene() -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    cv2.circle(image, DISC[0], DISC[1], (255, 0, 0), -1)
    x1, y1, x2, y2 = GREEN_RECT
    image[y1:y2 + 1, x1:x2 + 1] = (0, 255, 0)
    x1, y1, x2, y2 = STRAY_RED
    image[y1:y2 + 1, x1:x2 + 1] = (255, 0, 0)
    return image


def load(tmp_path: Path, onnx_bytes: bytes, **model_json: Any) -> OnnxDetectorLogic:
    directory = write_package(tmp_path / "model", onnx_bytes, {
        "id": "m", "organization": "o", "project": "p", "version": "3.1", "resolution": SIZE,
        "categories": CATEGORIES, **model_json})
    logic = OnnxDetectorLogic(read_model_info(directory), directory,
                              load_settings(DetectorSettings, organization="o", project="p"))
    logic.load()
    return logic


def raster(shape: Shape | str) -> np.ndarray:
    assert isinstance(shape, Shape)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.array([(p.x, p.y) for p in shape.points], np.int32)], 1)
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def expected_masks() -> tuple[np.ndarray, np.ndarray]:
    disc = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(disc, DISC[0], DISC[1], 1, -1)
    green = np.zeros((HEIGHT, WIDTH), np.uint8)
    green[GREEN_RECT[1]:GREEN_RECT[3] + 1, GREEN_BOX[0]:GREEN_BOX[2]] = 1  # the rectangle, cut at the box
    return disc, green


@pytest.mark.parametrize("preprocessing", ["letterbox", "resize"])
def test_masks_become_polygons_in_original_image_pixels(tmp_path: Path, preprocessing: str) -> None:
    logic = load(tmp_path, build_segmenter_onnx(SIZE, candidates(preprocessing)), preprocessing=preprocessing)
    assert logic.layout == ULTRALYTICS_SEGMENT  # inferred: model.json names no layout
    result = logic.evaluate(scene())
    segments = sorted(result.segmentation_detections, key=lambda s: -s.confidence)
    assert [(s.category_name, s.category_id, s.model_name, s.confidence) for s in segments] == [
        ("blob", "cat-blob", "3.1", 0.9), ("blob", "cat-blob", "3.1", 0.8)]
    disc, green = expected_masks()
    assert iou(raster(segments[0].shape), disc) > 0.93
    assert iou(raster(segments[1].shape), green) > 0.93
    assert isinstance(segments[1].shape, Shape)
    assert all(GREEN_BOX[0] <= p.x <= GREEN_BOX[2] for p in segments[1].shape.points)  # cropped to the box
    for segment in segments:  # simplified outlines of whole pixels, as the reference's Point(x: int, y: int)
        assert isinstance(segment.shape, Shape) and 4 <= len(segment.shape.points) <= 40
        assert all(type(p.x) is int and type(p.y) is int for p in segment.shape.points)
    boxes = [(b.category_name, b.x, b.y, b.width, b.height, b.confidence) for b in result.box_detections]
    assert boxes == [("crate", 160, 60, 30, 30, 0.7)]
    points = [(p.category_name, p.x, p.y, p.confidence) for p in result.point_detections]
    assert points == [("pin", 20.0, 80.0, 0.95)]


def test_masks_are_decoded_for_kept_detections_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logic = load(tmp_path, build_segmenter_onnx(SIZE, candidates("letterbox")))
    decoded: list[int] = []
    original = onnx_outputs.instance_polygons

    def counting(*args: Any) -> Any:
        decoded.extend(1 for _ in args[0])  # one row of mask coefficients per instance traced
        return original(*args)

    monkeypatch.setattr(onnx_outputs, "instance_polygons", counting)
    result = logic.evaluate(scene())
    # six candidates: one under the threshold, one suppressed, one box and one point: two masks
    assert len(decoded) == 2 == len(result.segmentation_detections)


def test_the_layout_is_found_whatever_the_output_order_and_can_be_named(tmp_path: Path) -> None:
    swapped = load(tmp_path / "a", build_segmenter_onnx(SIZE, candidates("letterbox"), swap_outputs=True))
    assert swapped.layout == ULTRALYTICS_SEGMENT
    assert len(swapped.evaluate(scene()).segmentation_detections) == 2
    # named `ultralytics`, the same model serves boxes only: the mask coefficients are left unread
    boxes_only = load(tmp_path / "b", build_segmenter_onnx(SIZE, candidates("letterbox")), output_layout=ULTRALYTICS)
    result = boxes_only.evaluate(scene())
    assert result.segmentation_detections == []
    assert sorted(b.category_name for b in result.box_detections) == ["blob", "blob", "crate"]


def test_outputs_that_do_not_fit_the_layout_are_refused_at_load(tmp_path: Path) -> None:
    three_coefficients = [[*column, 0.0] for column in candidates("letterbox")]  # M = 3, prototypes: 2
    with pytest.raises(ValueError, match="mask coefficients"):
        load(tmp_path / "a", build_segmenter_onnx(SIZE, three_coefficients))
    with pytest.raises(ValueError, match="unknown output_layout"):
        load(tmp_path / "b", build_segmenter_onnx(SIZE, candidates("letterbox")), output_layout="yolov8-seg")


def test_a_mask_with_no_pixel_above_the_threshold_gives_no_detection(tmp_path: Path) -> None:
    logic = load(tmp_path, build_segmenter_onnx(SIZE, candidates("letterbox")))
    result = logic.evaluate(np.zeros((HEIGHT, WIDTH, 3), np.uint8))  # the same boxes, nothing red or green
    assert result.segmentation_detections == []
    assert [b.category_name for b in result.box_detections] == ["crate"]
