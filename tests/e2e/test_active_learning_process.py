"""A detector under a stream of images with an upload quota: exactly the quota reaches the Loop (counted at the
stub's wire, every arrival), with the rule's tag, and the count holds across a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import image_arrivals
from tests.conftest import ORG, node_env

PROJECT = "quota"
RULES = json.dumps({"rules": [{"type": "random", "fraction": 1.0, "tag": "sampled"}], "quota": {"per_hour": 50}})


def jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def stream(detector: Service, count: int, first: int) -> None:
    with httpx.Client(timeout=30) as client:
        for i in range(first, first + count):
            response = client.post(f"{detector.url}/detect", files={"file": ("a.jpg", jpeg(i))},
                                   headers={"camera-id": f"cam-{i % 3}"})
            assert response.status_code == 200, response.text


def metric(detector: Service, name: str) -> float:
    line = next(line for line in httpx.get(f"{detector.url}/metrics").text.splitlines() if line.startswith(name))
    return float(line.rsplit(" ", 1)[1])


def test_a_quota_of_50_an_hour_lets_exactly_50_of_1000_images_through_across_a_restart(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0})
    package = grid_package(tmp_path / "grid.zip")
    model = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": ("g.zip", package.read_bytes())}).json()
    loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"model_uuid": model["id"]})
    env = node_env(stub, tmp_path / "detector", PROJECT, LOOP_ACTIVE_LEARNING=RULES)
    detector = start_node("loop-detector", env, "/ready")
    stream(detector, 30, 0)
    assert metric(detector, 'loop_detector_active_learning_picks_total{rule="sampled"}') == 30
    wait_until(lambda: metric(detector, "loop_detector_outbox_uploaded_total") == 30, 60, "30 images sent")
    assert sorted(image_arrivals(stub.url, ORG, PROJECT).values()) == [1] * 30  # counted at the wire
    detector.stop()
    detector.start()
    detector.wait_ready(path="/ready")
    stream(detector, 970, 30)
    # the restarted detector knew of the first 30: it sent 20 more and held back the rest
    assert metric(detector, 'loop_detector_active_learning_picks_total{rule="sampled"}') == 20
    assert metric(detector, 'loop_detector_active_learning_skips_total{reason="quota"}') == 950
    wait_until(lambda: httpx.get(f"{detector.url}/outbox").json()["drain_seconds"] == 0.0, 60, "the outbox drained")
    # what the detector sent (the stub keeps an image once, however often it arrives): 30 before the restart, 20 after
    assert metric(detector, "loop_detector_outbox_uploaded_total") == 20
    learning = httpx.get(f"{detector.url}/status").json()["active_learning"]  # what the detector page shows
    assert learning == {"picks": {"sampled": 20}, "over_quota": {}, "skips": {"quota": 950}}

    ids = loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "inbox"}).json()["image_ids"]
    stored = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(ids)}).json()["images"]
    assert len(stored) == 50 and all(image["tags"] == ["sampled"] for image in stored)
    # at the wire, every arrival counted (repeats included): exactly 50 uploads, each image once, and they are the
    # tagged images the stub stored
    time.sleep(1.5)
    arrivals = image_arrivals(stub.url, ORG, PROJECT)
    assert sum(arrivals.values()) == 50 and set(arrivals.values()) == {1}
    assert {key.partition("#")[0] for key in arrivals} == {image["uploaded_as"].removeprefix("image_")
                                                           for image in stored}
