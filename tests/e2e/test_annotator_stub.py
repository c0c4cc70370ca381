"""The annotator with the stub Loop, the whole path a person's input takes: REST input at the stub, forwarded over
Socket.IO to the loop-annotator process, the node's acknowledgement back; Enter sends the polygon, which the
stub's receive counters count as it arrives (what the node sent, not what the stub kept) and then stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import received
from tests.annotator.scene_kit import iou, polygon_mask
from tests.conftest import ORG, node_env

PROJECT = "annotate"


def send(loop: httpx.Client, image_id: str, category: dict[str, Any], event: str, x: int = 0, y: int = 0,
         **extra: Any) -> dict[str, Any]:
    body = {"frontend_id": "stub-person", "data": {"coordinate": {"x": x, "y": y}, "event_type": event,
                                                    "context": {"organization": ORG, "project": PROJECT},
                                                    "image_uuid": image_id, "category": category, **extra}}
    response = loop.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_box_and_enter_through_the_stub_reach_its_receive_counters(stub: Service, loop: httpx.Client,
                                                                    start_node: Callable[..., Service],
                                                                    tmp_path: Path) -> None:
    body = {"project_name": PROJECT, "complete": 1, "box_categories": 0, "segmentation_categories": 1,
            "image_width": 640, "image_height": 480, "seed": 3}
    assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200
    [image_id] = loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "complete"}).json()["image_ids"]
    [image] = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": image_id}).json()["images"]
    truth_annotation = image["segmentation_annotations"][0]
    truth = polygon_mask([(p["x"], p["y"]) for p in truth_annotation["shape"]["points"]], 480, 640)
    category = {"id": truth_annotation["category_id"], "name": truth_annotation["category_name"],
                "type": "segmentation"}
    node = start_node("loop-annotator", node_env(stub, tmp_path / "annotator", PROJECT))
    wait_until(lambda: httpx.get(node.url + "/ready").status_code == 200, 60, "the annotator connected")

    ys, xs = np.nonzero(truth)
    down = send(loop, image_id, category, "left_mouse_down", int(xs.min()) - 3, int(ys.min()) - 3)
    up = send(loop, image_id, category, "left_mouse_up", int(xs.max()) + 3, int(ys.max()) + 3)
    assert set(down) == set(up) == {"success", "error_msg", "payload"} and up["success"], up
    assert "<polygon" in up["payload"]
    assert send(loop, image_id, category, "key_up", key_up="Enter") == \
        {"success": True, "error_msg": None, "payload": ""}

    arrived = wait_until(lambda: received(stub.url, organization=ORG, project=PROJECT)["segmentation_annotations"],
                         30, "the annotation at the stub's wire")
    [annotation] = arrived
    assert annotation["count"] == 1 and annotation["refused"] is None
    assert (annotation["image_id"], annotation["category_id"]) == (image_id, category["id"])
    points = [(p["x"], p["y"]) for p in annotation["points"]]
    assert iou(polygon_mask(points, 480, 640), truth) > 0.85
    escape = send(loop, image_id, category, "key_up", key_up="Escape")
    assert escape == {"success": True, "error_msg": None, "payload": ""}
    refused = send(loop, image_id, category, "left_mouse_up", 5000, 5)
    assert refused["success"] is False and "outside the image (640 x 480 pixels)" in refused["error_msg"]
