"""`make e2e`: the compose stack in containers, driven only through the published ports.

Plays the whole loop: the README's first curl finds the demo image's objects (and draws them), an image reaches
the inbox, every page and /docs answer, a training runs on the trainer container, the converter adds its
format, the detector follows the new deployment target, and after a restart without the Loop the detector
serves again from its volume.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from loop_testkit.scene_matching import all_found, match_truth
from loop_testkit.scenes import encode_jpeg, render_scene

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
COMPOSE = os.environ.get("COMPOSE", "docker-compose").split()
PROJECT_NAME = "loop-e2e"
LOOP = "http://127.0.0.1:8000/api"
DETECTOR = "http://127.0.0.1:8004"
DEMO = "/zauberzeug/projects/demo"


def compose(*args: str, check: bool = True) -> str:
    result = subprocess.run([*COMPOSE, "-p", PROJECT_NAME, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise RuntimeError(f"compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (httpx.HTTPError, KeyError, ValueError) as e:
            last = e
        time.sleep(1)
    logs = compose("logs", "--tail", "40", check=False)
    raise AssertionError(f"{what} not reached within {timeout}s (last error: {last})\n{logs[-6000:]}")


@pytest.fixture(scope="module")
def stack() -> Any:
    compose("down", "-v", check=False)
    started = time.monotonic()
    compose("up", "-d")
    yield started
    compose("down", "-v", check=False)


def curl(*args: str) -> bytes:
    return subprocess.run(["curl", "-sf", *args], capture_output=True, check=True, timeout=60).stdout


def test_the_whole_loop_in_containers(stack: float, tmp_path: Path) -> None:
    loop = httpx.Client(base_url=LOOP, timeout=60)
    assert loop.post("/login", data={"username": "admin", "password": "admin"}).status_code == 200

    # the detector comes up on its own (waited for, generously bounded; how long it took is printed, not judged),
    # and the README's first curl finds the demo image's objects
    wait_until(lambda: httpx.get(f"{DETECTOR}/ready").status_code == 200, 300, "the detector ready")
    print(f"detector ready {time.monotonic() - stack:.0f} s after docker compose up")
    demo = tmp_path / "demo.jpg"
    curl("-o", str(demo), "localhost:8000/demo.jpg")
    found = json.loads(curl("-F", f"file=@{demo}", "localhost:8004/detect"))
    matches = match_truth(httpx.get("http://127.0.0.1:8000/demo.json").json(), found)
    assert all_found(matches), (matches, found)
    drawn = curl("-F", f"file=@{demo}", "localhost:8004/detect?draw=true")
    assert drawn[:2] == b"\xff\xd8" and cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR) is not None
    # the annotator is connected to the Loop (user inputs arrive over that connection)
    wait_until(lambda: httpx.get("http://127.0.0.1:8007/ready").status_code == 200, 120, "the annotator connected")
    for port in (8000, 8004, 8005, 8006, 8007):
        for path in ("/", "/docs", "/metrics"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 200, (port, path)

    # an image sent with autoupload `all` reaches the Loop's inbox
    httpx.post(f"{DETECTOR}/detect", files={"file": demo.read_bytes()}, headers={"autoupload": "all", "tags": "e2e"})

    def inbox_tags() -> list[list[str]]:
        ids = loop.get(f"{DEMO}/data", params={"state": "inbox"}).json()["image_ids"]
        return [i["tags"] for i in loop.get(f"{DEMO}/images", params={"ids": ",".join(ids)}).json()["images"]]

    wait_until(lambda: any("e2e" in tags for tags in inbox_tags()), 60, "the image in the Loop's inbox")

    # a training on the trainer container
    def idle_trainer() -> bool:
        return any((t["status"] or {}).get("state") == "idle" for t in loop.get("/trainers").json()["trainers"])

    wait_until(idle_trainer, 120, "an idle trainer")
    # 32 epochs: a 16-epoch model keeps many boxes near its threshold and duplicates at the NMS boundary, and its
    # INT8 conversion is refused by the accuracy gate now and then (1 of 6 seeds offline); at 32 none of 6 was
    response = loop.post(f"{DEMO}/trainings", json={"hyperparameters": {"epochs": 32, "eval_every": 8}})
    assert response.status_code == 200, response.text
    training = wait_until(lambda: (t := loop.get(f"{DEMO}/trainings/1").json())["state"] in ("done", "failed")
                          and t, 600, "the training")
    assert training["state"] == "done", training
    model = next(m for m in loop.get(f"{DEMO}/models").json()["models"] if m["id"] == training["model_id"])

    # the converter adds its format
    wait_until(lambda: "onnx_int8" in next(m for m in loop.get(f"{DEMO}/models").json()["models"]
                                           if m["id"] == model["id"])["formats"], 120, "the onnx_int8 format")

    # the detector follows the new deployment target
    loop.put(f"{DEMO}/deployment/target", json={"version": model["version"]})
    wait_until(lambda: httpx.get(f"{DETECTOR}/model_version").json()["current_version"] == model["version"], 120,
               "the detector serving the trained model")
    # in the format it prefers (LOOP_MODEL_FORMATS=onnx_int8,onnx): the converter's INT8, which passed its check
    about = wait_until(lambda: (a := httpx.get(f"{DETECTOR}/about").json())["model_format"] == "onnx_int8" and a,
                       120, "the detector serving the trained model as onnx_int8")
    assert about["model_info"]["conversion"]["measured"] is True, about["model_info"]
    assert about["model_info"]["conversion"]["accuracy_drop"] <= 0.02
    categories = loop.get(f"{DEMO}").json()["categories"]
    image, truth = render_scene(np.random.default_rng(99), categories, 320, 240, objects=3)
    detections = httpx.post(f"{DETECTOR}/detect", files={"file": encode_jpeg(image)},
                            headers={"autoupload": "disabled"}).json()
    assert detections["model_version"] == model["version"] and detections["box_detections"], (detections, truth)

    # restart the detector without the Loop: it serves from its volume
    compose("stop", "loop")
    compose("restart", "detector")
    wait_until(lambda: httpx.get(f"{DETECTOR}/ready").status_code == 200, 90, "the restarted detector ready")
    again = httpx.post(f"{DETECTOR}/detect", files={"file": encode_jpeg(image)},
                       headers={"autoupload": "disabled"}).json()
    assert again["model_version"] == model["version"]

    sizes = subprocess.run(["docker", "images", "loop-nodes/*", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"],
                           capture_output=True, text=True, check=True).stdout
    print("image sizes:\n" + sizes)
