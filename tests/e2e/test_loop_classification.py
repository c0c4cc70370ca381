"""A classification project through the whole loop, with processes: the stub generates it, the trainer trains the
reference classifier and uploads it (counted at the stub's receive counters), the converter converts it to INT8
(its accuracy gate compares top-1 classes and probabilities), the detector deploys the converted model and answers
classification detections for new images, and draws them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import detection_arrivals, image_arrivals, model_format_arrivals
from loop_testkit.scenes import encode_jpeg, render_classification_scene
from tests.conftest import ORG, node_env

PROJECT = "clsloop"
FAST = {"epochs": 24, "eval_every": 6, "resolution": 128, "batch_size": 16}


def test_a_trained_classifier_is_deployed_and_classifies_new_images(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    summary = loop.post(f"/{ORG}/projects/generator", json={
        "project_name": PROJECT, "complete": 100, "inbox": 5, "box_categories": 0, "classification_categories": 3,
        "image_width": 256, "image_height": 192, "seed": 5}).json()
    start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, LOOP_STATUS_INTERVAL="0.5"))
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.5",
                                                    LOOP_MODEL_FORMATS="onnx_int8,onnx"))
    wait_until(lambda: any((t["status"] or {}).get("state") == "idle"
                           for t in httpx.get(f"{stub.url}/api/trainers").json()["trainers"]), 30, "trainer")
    response = loop.post(f"/{ORG}/projects/{PROJECT}/trainings", json={"hyperparameters": FAST})
    assert response.status_code == 200, response.text

    def finished() -> dict[str, Any] | None:
        record = loop.get(f"/{ORG}/projects/{PROJECT}/trainings/1").json()
        return record if record["state"] in ("done", "failed") else None

    record = wait_until(finished, 300, "the training")
    assert record["state"] == "done", record
    # what the trainer sent: its model once, and the classifications of every image once each
    model_id = record["model_id"]
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(model_id, "onnx"): 1}
    images = loop.get(f"/{ORG}/projects/{PROJECT}/data").json()["image_ids"]
    assert len(images) == 105 and detection_arrivals(stub.url, ORG, PROJECT) == dict.fromkeys(images, 1)
    names = {c["name"] for c in summary["categories"]}
    confusion = record["metrics"]["confusion_matrix"]
    assert set(confusion) == {c["id"] for c in summary["categories"]}

    start_node("loop-converter", node_env(stub, tmp_path / "converter", PROJECT, LOOP_POLL_INTERVAL="0.5"))
    wait_until(lambda: (model_id, "onnx_int8") in model_format_arrivals(stub.url, ORG, PROJECT), 300,
               "the converted classifier")
    # the converter sent the INT8 package once, and the trainer's package was not sent again
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(model_id, "onnx"): 1, (model_id, "onnx_int8"): 1}

    version = loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"][0]["version"]
    loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version})
    wait_until(lambda: httpx.get(f"{detector.url}/ready").json().get("model_version") == version
               and httpx.get(f"{detector.url}/about").json()["model_format"] == "onnx_int8", 120,
               "the detector serving the converted classifier")

    rng = np.random.default_rng(777)  # scenes the trainer never saw
    right, answers = 0, []
    for _ in range(12):
        image, truth = render_classification_scene(rng, summary["categories"], 256, 192)
        result = httpx.post(f"{detector.url}/detect", files={"file": encode_jpeg(image)},
                            headers={"autoupload": "disabled"}, timeout=30).json()
        assert result["box_detections"] == result["point_detections"] == result["segmentation_detections"] == []
        classes = result["classification_detections"]
        assert all(c["category_name"] in names and c["model_name"] == version for c in classes)
        answers.append((truth["classification_annotation"]["category_name"], classes))
        right += bool(classes) and classes[0]["category_name"] == truth["classification_annotation"]["category_name"]
    assert right >= 8, answers  # chance: 4 of 12

    jpeg = encode_jpeg(image)
    drawn = httpx.post(f"{detector.url}/detect", params={"draw": "true"}, files={"file": jpeg},
                       headers={"autoupload": "disabled"}, timeout=30)
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == plain.shape
    assert np.abs(picture[:30].astype(int) - plain[:30]).mean() > 3  # the classes listed in the top-left corner

    # an image the detector uploads carries its classification, counted as it arrives
    uploaded = httpx.post(f"{detector.url}/detect", files={"file": jpeg}, headers={"autoupload": "all"}, timeout=30)
    assert uploaded.status_code == 200 and uploaded.json()["classification_detections"]
    wait_until(lambda: sum(image_arrivals(stub.url, ORG, PROJECT).values()) == 1, 60, "the detector's upload")
