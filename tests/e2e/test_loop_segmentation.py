"""Segmentation through the whole loop with processes: the stub generates a project with a segmentation category,
the trainer (the reference trainer) learns masks and uploads an `ultralytics_segment` model, counted at the stub's
wire, and its detections of the inbox, polygons among them; the converter converts it to INT8 (its accuracy gate
reads the masks too); the detector deploys the converted model and answers polygons for new scenes, and
`?draw=true` draws them."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from loop_shared.mask_metrics import mask_iou, polygon_mask
from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import detection_arrivals, model_format_arrivals
from loop_testkit.scenes import encode_jpeg, render_scene
from tests.conftest import ORG, node_env

PROJECT = "segproj"
WIDTH, HEIGHT = 192, 144
HYPER = {"epochs": 24, "resolution": 192, "eval_every": 8, "seed": 2}


def polygon(detection: dict[str, Any]) -> list[tuple[int, int]]:
    return [(p["x"], p["y"]) for p in detection["shape"]["points"]]


def test_a_segmentation_project_goes_through_the_loop_and_comes_back_as_polygons(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    generated = loop.post(f"/{ORG}/projects/generator", json={
        "project_name": PROJECT, "complete": 90, "inbox": 6, "box_categories": 1, "segmentation_categories": 1,
        "image_width": WIDTH, "image_height": HEIGHT, "seed": 21})
    assert generated.status_code == 200, generated.text
    categories = generated.json()["categories"]
    blob = next(c for c in categories if c["type"] == "segmentation")
    trainer = start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, LOOP_STATUS_INTERVAL="0.5"))
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.5",
                                                    LOOP_MODEL_FORMATS="onnx_int8,onnx"))
    wait_until(lambda: any((t["status"] or {}).get("state") == "idle"
                           for t in httpx.get(f"{stub.url}/api/trainers").json()["trainers"]), 30, "trainer")
    started = loop.post(f"/{ORG}/projects/{PROJECT}/trainings", json={"hyperparameters": HYPER})
    assert started.status_code == 200, started.text

    def finished() -> dict[str, Any] | None:
        record = loop.get(f"/{ORG}/projects/{PROJECT}/trainings/1").json()
        return record if record["state"] in ("done", "failed") else None

    record = wait_until(finished, 600, "the training")
    assert record["state"] == "done", record
    model_id = record["model_id"]
    # the trainer sent the model once, and its detections of the images it detected once each (counted at the wire)
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(model_id, "onnx"): 1}
    arrivals = detection_arrivals(stub.url, ORG, PROJECT)
    assert arrivals and set(arrivals.values()) == {1}, arrivals
    images = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(arrivals)}).json()["images"]
    assert any(image["segmentation_detections"] for image in images), images
    # the model it sent: the segmentation layout and mask figures; the trainer's page has them per training
    package = loop.get(f"/{ORG}/projects/{PROJECT}/models/{model_id}/onnx/file")
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        model_json = json.loads(archive.read("model.json"))
    assert model_json["output_layout"] == "ultralytics_segment"
    assert model_json["mask_map50"] > 0 and "mask_map50_95" in model_json
    finished_trainings = httpx.get(f"{trainer.url}/trainings").json()["finished"]
    assert "test_mask_map50" in json.dumps(finished_trainings[0]) and "val_mask_map50" in json.dumps(finished_trainings)

    start_node("loop-converter", node_env(stub, tmp_path / "converter", PROJECT, LOOP_POLL_INTERVAL="0.5"))
    wait_until(lambda: (model_id, "onnx_int8") in model_format_arrivals(stub.url, ORG, PROJECT), 300,
               "the converted model")
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(model_id, "onnx"): 1, (model_id, "onnx_int8"): 1}

    version = loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"][0]["version"]
    loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version})
    wait_until(lambda: httpx.get(f"{detector.url}/ready").json().get("model_version") == version
               and httpx.get(f"{detector.url}/about").json()["model_format"] == "onnx_int8", 120,
               "the detector serving the converted model")

    rng = np.random.default_rng(4242)  # scenes the trainer never saw
    found = total = 0
    for _ in range(16):
        image, annotations = render_scene(rng, categories, WIDTH, HEIGHT)
        answer = httpx.post(f"{detector.url}/detect", files={"file": encode_jpeg(image)},
                            headers={"autoupload": "disabled"}, timeout=30).json()
        assert all(d["category_name"] != blob["name"] for d in answer["box_detections"])
        masks = [polygon_mask(polygon(d), HEIGHT, WIDTH) for d in answer["segmentation_detections"]]
        for truth in annotations["segmentation_annotations"]:
            total += 1
            reference = polygon_mask([(p["x"], p["y"]) for p in truth["shape"]["points"]], HEIGHT, WIDTH)
            found += bool(masks) and float(mask_iou(np.stack(masks), reference[None]).max()) >= 0.5
    # a floor for a short training converted to INT8: the polygons are where the blobs are (quality: the bench)
    assert total >= 8 and found / total >= 0.25, f"{found} of {total} blobs found as polygons"

    drawn = httpx.post(f"{detector.url}/detect", params={"draw": "true"}, files={"file": encode_jpeg(image)},
                       headers={"autoupload": "disabled"}, timeout=30)
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (HEIGHT, WIDTH)
