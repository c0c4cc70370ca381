"""The annotator as a process against a test-side Loop (real HTTP and Socket.IO): the connection and status of
§4.1 and §4.4, the event sequence of §4.3 with the acknowledgements of §4.2, Escape, logout, garbage, and a Loop
restart. What the annotator sent is asserted at the wire (the events the Loop received, with their arguments)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loop_testkit.processes import Service, free_port, wait_until
from tests.annotator.loop_kit import AnnotatorLoop, annotator_env, jpegs_of
from tests.annotator.scene_kit import ORG, PROJECT, box_of, iou, polygon_mask, scene, user_input

KEYS = {"success", "error_msg", "payload"}


@pytest.fixture
def world(tmp_path: Path, start_node: Callable[..., Service]) -> Iterator[tuple[AnnotatorLoop, Service, Any]]:
    image, masks = scene(3)
    loop = AnnotatorLoop(jpegs_of({"img-1": image}))
    with loop.running():
        node = start_node("loop-annotator", annotator_env(loop.host, tmp_path / "annotator", free_port()))
        wait_until(lambda: loop.events("update_annotation_node"), 30, "the annotator's first status")
        yield loop, node, (image, masks)


def test_it_connects_as_an_annotation_node_and_reports_its_status(world: Any) -> None:
    loop, node, _ = world
    assert loop.headers[0]["organization"] == ORG and loop.headers[0]["project"] == PROJECT
    assert loop.headers[0]["nodetype"] == "annotation_node" and "session=hostile" in loop.headers[0]["cookie"]
    assert [s.path for s in loop.loop.requests("POST /api/login")] == ["/api/login"]
    wait_until(lambda: len(loop.events("update_annotation_node")) >= 3, 30, "status every interval")
    (status,) = loop.events("update_annotation_node")[-1]
    assert set(status) == {"id", "name", "state", "uptime", "errors", "capabilities"}
    assert status["state"] == "online" and status["capabilities"] == ["segmentation"] and status["errors"] == {}
    assert httpx.get(node.url + "/ready").json()["status"] == "ready"


def test_a_box_a_correction_and_enter_send_the_annotation(world: Any) -> None:
    loop, _, (image, masks) = world
    box = box_of(masks[0])
    acks = [loop.call("handle_user_input", user_input(*event)) for event in
            [("left_mouse_down", box[0], box[1]), ("mouse_move", box[2] - 5, box[3] - 5),
             ("left_mouse_up", box[2], box[3]), ("right_mouse_down", 1, 1), ("right_mouse_up", 1, 1)]]
    assert all(set(ack) == KEYS and ack["success"] is True and ack["error_msg"] is None for ack in acks), acks
    assert "<rect" in acks[1]["payload"] and "<polygon" in acks[2]["payload"] and "<polygon" in acks[4]["payload"]
    assert loop.events("update_segmentation_annotation") == []
    done = loop.call("handle_user_input", user_input("key_up", 3, 3, key_up="Enter"))
    assert done == {"success": True, "error_msg": None, "payload": ""}
    (sent,) = wait_until(lambda: loop.events("update_segmentation_annotation"), 20, "the annotation")
    organization, project, annotation = sent
    assert (organization, project) == (ORG, PROJECT)
    assert set(annotation) == {"id", "shape", "image_id", "category_id"}
    assert annotation["image_id"] == "img-1" and annotation["category_id"] == "cat-1"
    points = [(p["x"], p["y"]) for p in annotation["shape"]["points"]]
    assert all(isinstance(v, int) for p in points for v in p)
    assert iou(polygon_mask(points, *image.shape[:2]), masks[0]) > 0.85
    assert len(loop.loop.requests(f"GET /api/{ORG}/projects/{PROJECT}/images/img-1/main")) == 1  # cached


def test_escape_and_logout_clear_the_history(world: Any) -> None:
    loop, node, (_, masks) = world
    box = box_of(masks[0])
    loop.call("handle_user_input", user_input("left_mouse_down", box[0], box[1]))
    loop.call("handle_user_input", user_input("left_mouse_up", box[2], box[3]))
    assert httpx.get(node.url + "/status").json()["bounds"]["histories"] == 1
    assert loop.call("handle_user_input", user_input("key_up", 0, 0, key_up="Escape")) == \
        {"success": True, "error_msg": None, "payload": ""}
    assert httpx.get(node.url + "/status").json()["bounds"]["histories"] == 0
    refused = loop.call("handle_user_input", user_input("key_up", 0, 0, key_up="Enter"))
    assert refused["success"] is False and refused["error_msg"].startswith("nothing to confirm")
    loop.call("handle_user_input", user_input("left_mouse_up", 20, 20, frontend_id="someone"))
    assert loop.call("user_logout", "someone") == {"success": True, "error_msg": None, "payload": None}
    assert httpx.get(node.url + "/status").json()["bounds"]["histories"] == 1  # person-1's Enter made one


GARBAGE: list[Any] = [None, 7, "text", [1, 2], {}, {"frontend_id": "x", "data": "y"},
                      user_input("left_mouse_up", 10**9, 5), user_input("left_mouse_up", image_uuid="unknown"),
                      user_input("left_mouse_up", image_uuid="../../../etc/passwd"),
                      {"frontend_id": "x", "data": {**user_input("mouse_move")["data"], "coordinate": {"x": "a"}}}]


def test_garbage_gets_one_line_refusals_and_the_node_keeps_serving(world: Any) -> None:
    loop, node, _ = world
    for garbage in GARBAGE:
        ack = loop.call("handle_user_input", garbage)
        assert set(ack) == KEYS and ack["success"] is False and ack["payload"] is None, (garbage, ack)
        assert ack["error_msg"] and "\n" not in ack["error_msg"], ack
    for args in ((), ("a", "b")):
        ack = loop.call("handle_user_input", *args) if args else loop.loop.call("handle_user_input", timeout=30)
        assert ack["success"] is False and "bad arguments for handle_user_input" in ack["error_msg"]
    assert loop.call("user_logout", {"not": "a sid"})["success"] is False
    assert loop.call("handle_user_input", user_input("mouse_move", 3, 3))["success"] is True
    assert node.proc is not None and node.proc.poll() is None
    assert httpx.get(node.url + "/health").status_code == 200


def test_it_reconnects_after_a_loop_restart(tmp_path: Path, start_node: Callable[..., Service]) -> None:
    image, masks = scene(4)
    jpegs, port = jpegs_of({"img-1": image}), free_port()
    first = AnnotatorLoop(jpegs, port)
    with first.running():
        node = start_node("loop-annotator", annotator_env(first.host, tmp_path / "annotator", free_port()))
        wait_until(lambda: first.events("update_annotation_node"), 30, "the first status")
    wait_until(lambda: httpx.get(node.url + "/ready").status_code == 503, 30, "not ready while the Loop is away")
    second = AnnotatorLoop(jpegs, port)
    with second.running():
        wait_until(lambda: second.events("update_annotation_node"), 90, "a status after the restart")
        assert second.headers[0]["nodetype"] == "annotation_node" and second.loop.requests("POST /api/login")
        box = box_of(masks[0])
        second.call("handle_user_input", user_input("left_mouse_down", box[0], box[1]))
        assert "<polygon" in second.call("handle_user_input", user_input("left_mouse_up", box[2], box[3]))["payload"]
        assert np.any(masks[0])
