"""The node's handling of user inputs and logouts (loop_annotator/inputs.py): the acknowledgement shapes of
protocol §4.2, Escape, garbage, a failing plugin, a failed send, and the history kept or dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from loop_annotator.histories import Histories
from loop_annotator.images import ImageCache
from loop_annotator.inputs import InputHandler
from loop_annotator.logic import AnnotatorLogic, ToolError
from loop_annotator.metrics import AnnotatorMetrics
from loop_annotator.tool.logic import GrabCutTool
from loop_shared.schemas import SegmentationAnnotation, ToolOutput, UserInput
from loop_testkit.scenes import encode_jpeg
from tests.annotator.scene_kit import ORG, PROJECT, box_of, scene, user_input

KEYS = {"success", "error_msg", "payload"}


class Project:
    def __init__(self, jpeg: bytes) -> None:
        self.jpeg = jpeg

    async def download_image(self, image_id: str, dest_dir: Path) -> Path:
        dest_dir.mkdir(parents=True, exist_ok=True)
        (dest_dir / f"{image_id}.jpg").write_bytes(self.jpeg)
        return dest_dir / f"{image_id}.jpg"


class Sent:
    def __init__(self) -> None:
        self.annotations: list[tuple[str, str, SegmentationAnnotation]] = []
        self.failure: Exception | None = None

    async def __call__(self, organization: str, project: str, annotation: SegmentationAnnotation) -> None:
        if self.failure is not None:
            raise self.failure
        self.annotations.append((organization, project, annotation))


class Broken(AnnotatorLogic):
    def create_empty_history(self) -> dict[str, Any]:
        return {"events": 0}

    def handle_user_input(self, user_input: UserInput, image: np.ndarray, history: Any) -> ToolOutput:
        history["events"] += 1
        if user_input.data.event_type == "key_down":
            raise ToolError("no keys here\nplease")
        if user_input.data.event_type == "right_mouse_up":
            raise RuntimeError("boom")
        if user_input.data.event_type == "mouse_move":
            return "not a tool output"  # type: ignore[return-value]
        return ToolOutput(svg=f"<g>{history['events']}</g>")

    def logout_user(self, frontend_id: str) -> bool:
        if frontend_id == "explodes":
            raise RuntimeError("no")
        return frontend_id != "unknown"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[np.ndarray, list[np.ndarray], Histories, Sent]:
    image, masks = scene(3)
    return image, masks, Histories(10, 10**7, 600), Sent()


def handler(tmp_path: Path, logic: AnnotatorLogic, image: np.ndarray, histories: Histories, sent: Sent
            ) -> InputHandler:
    project = Project(encode_jpeg(image, quality=98))
    images = ImageCache(tmp_path, lambda org, name: project, 10**9, 100)  # type: ignore[arg-type,return-value]
    return InputHandler(logic, histories, images, sent, AnnotatorMetrics(CollectorRegistry()))


async def test_a_box_and_enter_answer_svgs_and_send_the_annotation(tmp_path: Path, setup: Any) -> None:
    image, masks, histories, sent = setup
    inputs = handler(tmp_path, GrabCutTool(), image, histories, sent)
    box = box_of(masks[0])
    down = await inputs.handle_user_input(user_input("left_mouse_down", box[0], box[1]))
    up = await inputs.handle_user_input(user_input("left_mouse_up", box[2], box[3]))
    assert set(down) == set(up) == KEYS and down["success"] and up["success"] and up["error_msg"] is None
    assert "<polygon" in up["payload"]
    done = await inputs.handle_user_input(user_input("key_up", key_up="Enter"))
    assert done == {"success": True, "error_msg": None, "payload": ""}
    [(org, project, annotation)] = sent.annotations
    assert (org, project, annotation.image_id, annotation.category_id) == (ORG, PROJECT, "img-1", "cat-1")
    assert len(annotation.shape.points) >= 3
    assert histories.entry("person-1", GrabCutTool().create_empty_history).history.polygon == []  # starts afresh


async def test_a_failed_send_is_refused_and_keeps_the_outline_for_another_enter(tmp_path: Path, setup: Any) -> None:
    image, masks, histories, sent = setup
    inputs = handler(tmp_path, GrabCutTool(), image, histories, sent)
    box = box_of(masks[0])
    await inputs.handle_user_input(user_input("left_mouse_down", box[0], box[1]))
    await inputs.handle_user_input(user_input("left_mouse_up", box[2], box[3]))
    sent.failure = ConnectionError("not connected to the Loop")
    refused = await inputs.handle_user_input(user_input("key_up", key_up="Enter"))
    assert refused["success"] is False and refused["payload"] is None
    assert "could not send the annotation to the Loop (ConnectionError: not connected" in refused["error_msg"]
    sent.failure = None
    assert (await inputs.handle_user_input(user_input("key_up", key_up="Enter")))["success"]
    assert len(sent.annotations) == 1


async def test_escape_answers_an_empty_payload_and_drops_the_history(tmp_path: Path, setup: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, Broken(), image, histories, sent)
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["payload"] == "<g>1</g>"
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["payload"] == "<g>2</g>"
    escape = await inputs.handle_user_input(user_input("key_up", key_up="Escape", image_uuid="never-downloaded"))
    assert escape == {"success": True, "error_msg": None, "payload": ""}
    assert "person-1" not in histories
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["payload"] == "<g>1</g>"


@pytest.mark.parametrize("garbage", [None, 42, "text", [], {}, {"frontend_id": "x"}, {"frontend_id": 5, "data": {}},
                                     {"frontend_id": "x", "data": {"coordinate": {"x": 1.5, "y": 2}}},
                                     user_input("left_mouse_up", frontend_id=""),
                                     user_input("left_mouse_up", frontend_id="x" * 300),
                                     user_input("left_mouse_up", image_uuid="../../etc/passwd"),
                                     {**user_input("mouse_move"), "data": {**user_input("mouse_move")["data"],
                                                                           "context": {"organization": "..",
                                                                                       "project": "p"}}}])
async def test_garbage_is_refused_with_one_line_and_the_next_input_is_served(tmp_path: Path, setup: Any,
                                                                            garbage: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, Broken(), image, histories, sent)
    ack = await inputs.handle_user_input(garbage)
    assert set(ack) == KEYS and ack["success"] is False and ack["payload"] is None
    assert ack["error_msg"] and "\n" not in ack["error_msg"] and len(ack["error_msg"]) <= 300
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["success"]


async def test_a_tool_error_keeps_the_history_and_a_crash_resets_it(tmp_path: Path, setup: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, Broken(), image, histories, sent)
    await inputs.handle_user_input(user_input("left_mouse_up", 5, 5))
    refused = await inputs.handle_user_input(user_input("key_down", key_down="a"))
    assert refused == {"success": False, "error_msg": "no keys here please", "payload": None}
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["payload"] == "<g>3</g>"
    crashed = await inputs.handle_user_input(user_input("right_mouse_up", 5, 5))
    assert crashed["success"] is False and "the annotation tool failed (RuntimeError: boom)" in crashed["error_msg"]
    assert (await inputs.handle_user_input(user_input("left_mouse_up", 5, 5)))["payload"] == "<g>1</g>"
    wrong = await inputs.handle_user_input(user_input("mouse_move", 5, 5))
    assert wrong["success"] is False and "answered a str, not a ToolOutput" in wrong["error_msg"]


async def test_a_missing_image_is_refused_with_its_reason(tmp_path: Path, setup: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, Broken(), image, histories, sent)
    inputs.images._project_api = lambda org, name: Project(b"garbage")  # type: ignore[assignment,return-value]
    ack = await inputs.handle_user_input(user_input("left_mouse_up", 5, 5, image_uuid="corrupt"))
    assert ack == {"success": False, "payload": None,
                   "error_msg": "image corrupt is not a JPEG or PNG the annotator can read"}


async def test_logout_drops_the_history_and_answers_what_the_plugin_says(tmp_path: Path, setup: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, Broken(), image, histories, sent)
    await inputs.handle_user_input(user_input("left_mouse_up", 5, 5))
    assert "person-1" in histories
    assert await inputs.user_logout("person-1") == {"success": True, "error_msg": None, "payload": None}
    assert "person-1" not in histories
    assert (await inputs.user_logout("unknown"))["success"] is False
    failed = await inputs.user_logout("explodes")
    assert failed["success"] is False and "RuntimeError: no" in failed["error_msg"]
    assert (await inputs.user_logout(17))["error_msg"] == "user_logout takes one argument: the frontend id (a string)"


class NoHistory(Broken):
    def create_empty_history(self) -> dict[str, Any]:
        raise MemoryError("no room")


async def test_any_other_failure_still_gets_an_ack_with_one_line(tmp_path: Path, setup: Any) -> None:
    image, _, histories, sent = setup
    inputs = handler(tmp_path, NoHistory(), image, histories, sent)
    ack = await inputs.handle_user_input(user_input("left_mouse_up", 5, 5))
    assert ack == {"success": False, "payload": None,
                   "error_msg": "the annotator failed on this input (MemoryError: no room)"}
