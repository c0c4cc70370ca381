"""The detector serves the best format the Loop has and moves to a better one when a converter publishes it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from tests.conftest import ORG, node_env

PROJECT = "formats"


def test_onnx_first_then_the_converted_int8_without_a_failed_request(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 12, "box_categories": 2})
    package = grid_package(tmp_path / "grid.zip", size=128, cell=32, conv=True)
    model = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": ("grid.zip", package.read_bytes())}).json()
    loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"model_uuid": model["id"]})
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.3",
                                                    LOOP_STATUS_INTERVAL="0.5",
                                                    LOOP_MODEL_FORMATS="onnx_int8,onnx"), "/ready")
    about = httpx.get(f"{detector.url}/about").json()
    assert (about["model_format"], about["preferred_formats"]) == ("onnx", ["onnx_int8", "onnx"])

    image = np.zeros((128, 128, 3), np.uint8)
    image[0:32, 0:32] = (255, 0, 0)
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()
    answers: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as session:
            while not stop.is_set():
                try:
                    answers.append(session.post(f"{detector.url}/detect", files={"file": ("a.jpg", jpeg)},
                                                headers={"autoupload": "disabled"}).status_code)
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        start_node("loop-converter", node_env(stub, tmp_path / "converter", PROJECT, LOOP_POLL_INTERVAL="0.5"))
        wait_until(lambda: httpx.get(f"{detector.url}/about").json()["model_format"] == "onnx_int8", 120,
                   "the detector serving onnx_int8")
        served_before = len(answers)
        wait_until(lambda: len(answers) > served_before + 20, 30, "requests after the swap")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == [] and set(answers) == {200}, (errors[:3], sorted(set(answers)))
    metrics = httpx.get(f"{detector.url}/metrics").text
    assert 'loop_detector_model_info{format="onnx_int8",provider="CPUExecutionProvider",version="1.0"} 1.0' in metrics
    wait_until(lambda: [d for d in loop.get(f"/{ORG}/projects/{PROJECT}/detectors").json()["detectors"]
                        if d["model_format"] == "onnx_int8"], 20, "the Loop told the format")
    detections = httpx.post(f"{detector.url}/detect", files={"file": ("a.jpg", jpeg)}).json()["box_detections"]
    assert [(d["category_name"], d["x"], d["y"], d["width"], d["height"]) for d in detections
            if d["confidence"] > 0.5] == [("red", 0, 0, 32, 32)]
