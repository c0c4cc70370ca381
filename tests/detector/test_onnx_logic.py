"""The default ONNX logic on real ONNX models whose outputs depend on the image in a known way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import extract_package, read_model_info
from loop_shared.settings import load_settings
from loop_shared.yolo import YOLOV5, infer_layout
from loop_testkit.onnx_models import build_constant_onnx, grid_categories, grid_package


def settings(**overrides: object) -> DetectorSettings:
    return load_settings(DetectorSettings, organization="o", project="p", **overrides)


def load_grid(tmp_path: Path, model_json: dict[str, object] | None = None, configured: DetectorSettings | None = None,
              **kwargs: object) -> OnnxDetectorLogic:
    identity = {"id": "m", "organization": "o", "project": "p", "version": "2.0", **(model_json or {})}
    package = grid_package(tmp_path / "grid.zip", extra=identity, **kwargs)  # type: ignore[arg-type]
    directory = extract_package(package, tmp_path / "model")
    logic = OnnxDetectorLogic(read_model_info(directory), directory, configured or settings())
    logic.load()
    return logic


def test_boxes_land_in_original_image_pixels(tmp_path: Path) -> None:
    logic = load_grid(tmp_path)
    image = np.zeros((128, 128, 3), np.uint8)
    image[0:32, 0:32] = (255, 0, 0)      # model cell (0, 0): red, score 1.0
    image[64:96, 32:64] = (0, 0, 115)    # model cell (2, 1): blue at 0.45
    result = logic.evaluate(image)
    boxes = {(b.category_name, b.x, b.y, b.width, b.height): b.confidence for b in result.box_detections}
    assert boxes == {("red", 0, 0, 32, 32): 1.0, ("blue", 32, 64, 32, 32): pytest.approx(0.451, abs=0.002)}
    assert all(b.model_name == "2.0" and b.category_id == f"cat-{b.category_name}" for b in result.box_detections)


def test_letterbox_padding_is_undone_and_boxes_clipped(tmp_path: Path) -> None:
    logic = load_grid(tmp_path)
    image = np.zeros((64, 128, 3), np.uint8)  # scaled by 0.5 and padded by 16 rows top and bottom
    image[0:32, 96:128] = (0, 255, 0)        # model rows 16..32, columns 48..64: the lower half of cell (1, 3)
    result = logic.evaluate(image)
    green = [b for b in result.box_detections if b.category_name == "green" and b.confidence > 0.6]
    assert [(b.x, b.y, b.width, b.height) for b in green] == [(96, 0, 32, 32)]
    for box in result.box_detections:
        assert box.x >= 0 and box.x + box.width <= 128 and box.y >= 0 and box.y + box.height <= 64


def test_point_categories_become_points_at_box_centres(tmp_path: Path) -> None:
    categories = grid_categories(("red", "green", "blue"), ("point", "box", "box"))
    logic = load_grid(tmp_path, categories=categories)
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:32, 32:48] = (255, 0, 0)
    result = logic.evaluate(image)
    assert [(p.category_name, p.x, p.y, p.confidence) for p in result.point_detections] == [("red", 40.0, 24.0, 1.0)]
    assert result.box_detections == []


def test_conf_threshold_and_nms(tmp_path: Path) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :] = (40, 0, 0)  # every cell red at 0.157: below the default threshold of 0.2
    assert load_grid(tmp_path / "a").evaluate(image).box_detections == []
    lower = load_grid(tmp_path / "b", configured=settings(conf_threshold=0.1))
    assert len(lower.evaluate(image).box_detections) == 16  # touching cells do not overlap, NMS keeps all


def test_thresholds_come_from_model_json_unless_configured(tmp_path: Path) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :] = (40, 0, 0)  # red at 0.157 everywhere
    from_model = load_grid(tmp_path / "a", model_json={"conf_threshold": 0.1, "iou_threshold": 0.3})
    assert (from_model.conf_threshold, from_model.iou_threshold) == (0.1, 0.3)
    assert len(from_model.evaluate(image).box_detections) == 16
    overridden = load_grid(tmp_path / "b", model_json={"conf_threshold": 0.1},
                           configured=settings(conf_threshold=0.5, iou_threshold=0.6))
    assert (overridden.conf_threshold, overridden.iou_threshold) == (0.5, 0.6)
    assert overridden.evaluate(image).box_detections == []
    plain = load_grid(tmp_path / "c")
    assert (plain.conf_threshold, plain.iou_threshold) == (0.2, 0.45)
    zero = load_grid(tmp_path / "d", model_json={"conf_threshold": 0.0})  # 0.0 is a threshold, not "not given"
    assert (zero.conf_threshold, zero.iou_threshold) == (0.0, 0.45)
    configured = load_grid(tmp_path / "e", model_json={"conf_threshold": 0.3}, configured=settings(conf_threshold=0))
    assert configured.conf_threshold == 0.0


def yolov5_model(path: Path, rows: np.ndarray) -> None:
    """A model whose output is the constant [1, N, 5 + C] block `rows`: layout YOLOv5."""
    path.write_bytes(build_constant_onnx(32, rows[np.newaxis]))


def test_yolov5_layout_is_inferred_and_objectness_applied(tmp_path: Path) -> None:
    model_dir = tmp_path / "v5"
    model_dir.mkdir()
    rows = np.array([[16, 16, 8, 8, 0.9, 0.1, 0.9], [8, 8, 4, 4, 0.5, 0.9, 0.2], [20, 20, 4, 4, 0.1, 0.5, 0.5]])
    yolov5_model(model_dir / "model.onnx", rows)
    (model_dir / "model.json").write_text(json.dumps({"id": "x", "organization": "o", "project": "p",
                                                      "version": "1.0", "categories": grid_categories(("a", "b"))}))
    logic = OnnxDetectorLogic(read_model_info(model_dir), model_dir, settings())
    logic.load()
    assert logic.layout == YOLOV5
    result = logic.evaluate(np.zeros((64, 64, 3), np.uint8))  # scale 2
    assert [(b.category_name, b.x, b.y, b.width, b.height, b.confidence) for b in result.box_detections] == [
        ("b", 24, 24, 16, 16, 0.81), ("a", 12, 12, 8, 8, 0.45)]


def test_layout_inference_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="output_layout"):
        infer_layout((1, 10, 10), 3)
