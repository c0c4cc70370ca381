"""The detector process serves an instance-segmentation model and an image classifier, both built with onnx.helper
in the common export layouts, over real HTTP, and answers in the shapes the reference client's data classes read."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from loop_testkit.onnx_classifier import build_classifier_onnx
from loop_testkit.onnx_models import grid_categories
from loop_testkit.onnx_segmenter import build_segmenter_onnx, write_package
from loop_testkit.processes import Service, wait_until
from tests.conftest import ORG, node_env
from tests.detector import test_segmentation_logic as segmentation

PROJECT = "typesproj"


def png_of(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def upload_and_deploy(loop: httpx.Client, package: Path) -> str:
    response = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": (package.name, package.read_bytes())})
    assert response.status_code == 200, response.text
    version = str(response.json()["version"])
    assert loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version}).status_code == 200
    return version


def reference_segmentation(item: dict[str, Any]) -> list[tuple[int, int]]:
    """Read a segmentation detection as the reference's data classes type it (learning_loop_node 0.27,
    `SegmentationDetection(category_name: str, shape: Shape | str, model_name: str, confidence: float,
    category_id: str | None)`, `Shape(points: list[Point])`, `Point(x: int, y: int)`; dacite checks the types,
    so a point `12.0` would be refused). Returns the polygon."""
    assert set(item) == {"category_name", "shape", "model_name", "confidence", "category_id"}
    assert isinstance(item["category_name"], str) and isinstance(item["model_name"], str)
    assert isinstance(item["confidence"], float) and isinstance(item["category_id"], str | None)
    assert set(item["shape"]) == {"points"}
    points = item["shape"]["points"]
    assert all(set(p) == {"x", "y"} and type(p["x"]) is int and type(p["y"]) is int for p in points)
    return [(p["x"], p["y"]) for p in points]


def reference_classification(item: dict[str, Any]) -> tuple[str, float]:
    """`ClassificationDetection(category_name: str, model_name: str, confidence: float, category_id: str | None)`."""
    assert set(item) == {"category_name", "model_name", "confidence", "category_id"}
    assert isinstance(item["model_name"], str) and isinstance(item["confidence"], float)
    return item["category_name"], item["confidence"]


def test_segmentation_and_classification_models_are_served_over_http(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0, "box_categories": 0})
    identity = {"resolution": segmentation.SIZE, "categories": segmentation.CATEGORIES}
    segmenter = write_package(tmp_path / "segmenter.zip",
                              build_segmenter_onnx(segmentation.SIZE, segmentation.candidates("letterbox")), identity)
    version = upload_and_deploy(loop, segmenter)
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.3"))
    detector.wait_ready(path="/ready")

    answer = httpx.post(f"{detector.url}/detect", files={"file": png_of(segmentation.scene())}, timeout=30)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["model_version"] == version
    segments = sorted(result["segmentation_detections"], key=lambda s: -s["confidence"])
    assert [(s["category_name"], s["confidence"]) for s in segments] == [("blob", 0.9), ("blob", 0.8)]
    disc, green = segmentation.expected_masks()
    for item, expected in zip(segments, (disc, green), strict=True):
        mask = np.zeros_like(expected)
        cv2.fillPoly(mask, [np.array(reference_segmentation(item), np.int32)], 1)
        assert segmentation.iou(mask, expected) > 0.93
    assert [(b["category_name"], b["x"], b["y"], b["width"], b["height"]) for b in result["box_detections"]] == [
        ("crate", 160, 60, 30, 30)]
    assert [(p["category_name"], p["x"], p["y"]) for p in result["point_detections"]] == [("pin", 20.0, 80.0)]
    # a segmentation makes the image worth learning from: it reaches the Loop with its polygons
    inbox = wait_until(lambda: loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "inbox"}).json()
                       ["image_ids"], what="the image with segmentations in the Loop's inbox")
    uploaded = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": inbox[0]}).json()["images"][0]
    assert sorted(reference_segmentation(s) for s in uploaded["segmentation_detections"]) == sorted(
        reference_segmentation(s) for s in segments)

    classes = grid_categories(("red", "green", "blue"), ("classification",) * 3)
    classifier = write_package(tmp_path / "classifier.zip", build_classifier_onnx(32, gain=10.0),
                               {"categories": classes, "scores": "logits", "output_layout": "classification"})
    version = upload_and_deploy(loop, classifier)
    image = png_of(np.full((40, 40, 3), (153, 77, 26), np.uint8))
    result = wait_until(lambda: (r := httpx.post(f"{detector.url}/detect", files={"file": image}, timeout=30)
                                 .json()).get("model_version") == version and r,
                        timeout=60, what=f"the classifier {version} serving")
    logits = [10 * m / 255 for m in (153, 77, 26)]
    red = round(math.exp(logits[0]) / sum(math.exp(v) for v in logits), 3)
    assert [reference_classification(c) for c in result["classification_detections"]] == [("red", red)]
    assert result["box_detections"] == result["segmentation_detections"] == []
