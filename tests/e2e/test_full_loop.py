"""The whole loop with processes: generate, train, deploy the new model, detect objects on new images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from loop_testkit.processes import Service, wait_until
from loop_testkit.scenes import encode_jpeg, render_scene
from tests.conftest import ORG, node_env

PROJECT = "loopproj"




def iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    ix = max(0, min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]))
    iy = max(0, min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]))
    union = a["width"] * a["height"] + b["width"] * b["height"] - ix * iy
    return ix * iy / union if union else 0.0


def test_trained_model_deployed_to_the_detector_finds_objects_in_new_images(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    summary = loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 100,
                                                             "box_categories": 2, "seed": 5}).json()
    start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, LOOP_STATUS_INTERVAL="0.5"))
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT,
                                                    LOOP_POLL_INTERVAL="0.5"))
    wait_until(lambda: any((t["status"] or {}).get("state") == "idle"
                           for t in httpx.get(f"{stub.url}/api/trainers").json()["trainers"]), 30, "trainer")
    response = loop.post(f"/{ORG}/projects/{PROJECT}/trainings",
                         json={"hyperparameters": {"epochs": 16, "eval_every": 4}})
    assert response.status_code == 200, response.text

    def finished() -> dict[str, Any] | None:
        record = loop.get(f"/{ORG}/projects/{PROJECT}/trainings/1").json()
        return record if record["state"] in ("done", "failed") else None

    record = wait_until(finished, 300, "the training")
    assert record["state"] == "done"
    version = loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"][0]["version"]
    loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version})
    wait_until(lambda: httpx.get(f"{detector.url}/ready").json().get("model_version") == version, 60,
               "the detector serving the trained model")

    rng = np.random.default_rng(12345)  # scenes the trainer never saw
    found = total = 0
    missed = []  # for the failure message: the closest detection of each missed object
    for _ in range(12):
        image, annotations = render_scene(rng, summary["categories"], 320, 240)
        result = httpx.post(f"{detector.url}/detect", files={"file": encode_jpeg(image)},
                            headers={"autoupload": "disabled"}).json()
        for truth in annotations["box_annotations"]:
            total += 1
            hit = any(d["category_name"] == truth["category_name"] and iou(d, truth) >= 0.5
                      for d in result["box_detections"])
            found += hit
            if not hit:
                near = max(result["box_detections"], key=lambda d: iou(d, truth), default=None)
                missed.append((truth["category_name"], truth["width"], truth["height"], near and
                               (near["category_name"], round(iou(near, truth), 2), near["confidence"])))
    assert total >= 12 and found / total >= 0.8, f"found {found} of {total} objects; missed: {missed}"
