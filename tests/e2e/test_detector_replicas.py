"""Detector replicas on one data directory (as on a shared volume, or a Swarm slot during a start-first update):
each has its own identity in the Loop and its own outbox; the images a killed replica had accepted are delivered by
the next one that starts. Counted at the stub Loop's receive counters: every accepted image arrives exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import image_arrivals
from tests.conftest import ORG, node_env
from tests.e2e.test_detector_process import PROJECT, deploy, jpeg_of, upload_model


def image(n: int) -> bytes:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[n % 8 * 8:n % 8 * 8 + 8, n // 8 * 8:n // 8 * 8 + 8] = (255, 255, 255)  # a white square where no other is
    return jpeg_of(rgb)


def send(detector: Service, numbers: range) -> dict[str, int]:
    """Upload one image per number; returns sha256 prefix -> number for those the detector accepted."""
    jpegs = {n: image(n) for n in numbers}
    response = httpx.post(f"{detector.url}/upload", files=[("files", j) for j in jpegs.values()], timeout=30)
    assert response.json() == [200, "OK"], response.text
    return {hashlib.sha256(j).hexdigest()[:16]: n for n, j in jpegs.items()}


def arrivals(stub: Service) -> dict[str, int]:
    return {key.partition("#")[2]: n for key, n in image_arrivals(stub.url, ORG, PROJECT).items()}


def test_replicas_have_their_own_identity_and_outbox_and_a_killed_ones_images_arrive_once(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0, "box_categories": 0})
    upload_model(loop, tmp_path, "v1")
    deploy(loop, "1.0")
    shared = tmp_path / "shared"

    def replica(replica_id: str) -> Service:
        return start_node("loop-detector", node_env(stub, shared, PROJECT, LOOP_REPLICA_ID=replica_id,
                                                    LOOP_POLL_INTERVAL="0.3", LOOP_STATUS_INTERVAL="1",
                                                    LOOP_OUTBOX_BACKOFF_CAP="1"), ready_path="/ready")

    one, two = replica("1"), replica("2")
    sent = {**send(one, range(0, 5)), **send(two, range(5, 10))}
    wait_until(lambda: len(arrivals(stub)) == 10, what="10 images at the stub")

    def reported() -> list[dict]:
        return list(loop.get(f"/{ORG}/projects/{PROJECT}/detectors").json()["detectors"])

    wait_until(lambda: len(reported()) == 2, what="two detectors reporting")
    names = sorted(d["name"] for d in reported())
    assert names == [f"detector {ORG}/{PROJECT} #1", f"detector {ORG}/{PROJECT} #2"]
    assert len({d["uuid"] for d in reported()}) == 2
    assert sorted(p.name for p in (shared / "outboxes").iterdir()) == ["1", "2"]

    # replica 1 accepts 5 more while its outbox holds them, then dies: replica 3 adopts and delivers them
    assert httpx.put(f"{one.url}/outbox_mode", content=b"stopped").json() == "OK"
    sent.update(send(one, range(10, 15)))
    one.kill()
    three = replica("3")
    wait_until(lambda: len(arrivals(stub)) == 15, timeout=30, what="15 images at the stub")
    assert "adopted 5 waiting images" in three.log()
    wait_until(lambda: httpx.get(f"{three.url}/outbox").json()["normal_items"] == 0, what="replica 3's outbox empty")
    assert arrivals(stub) == dict.fromkeys(sent, 1)  # every accepted image, each exactly once on the wire
    assert not (shared / "outboxes" / "1").exists()
