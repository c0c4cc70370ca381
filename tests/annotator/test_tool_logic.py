"""The default tool (loop_annotator/tool/logic.py): a box, clicks, the SVG, Enter, and what it refuses."""

from __future__ import annotations

import re

import numpy as np
import pytest

from loop_annotator.logic import ToolError
from loop_annotator.tool.history import ToolHistory
from loop_annotator.tool.logic import GrabCutTool
from loop_shared.schemas import UserInput
from tests.annotator.scene_kit import CATEGORY, box_of, iou, polygon_mask, scene, user_input


def run(tool: GrabCutTool, image: np.ndarray, history: ToolHistory, event: str, x: int = 0, y: int = 0,
        **extra: object):
    return tool.handle_user_input(UserInput.model_validate(user_input(event, x, y, **extra)), image, history)


def drag_box(tool: GrabCutTool, image: np.ndarray, history: ToolHistory, box: tuple[int, int, int, int]) -> str:
    run(tool, image, history, "left_mouse_down", box[0], box[1])
    run(tool, image, history, "mouse_move", (box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    return run(tool, image, history, "left_mouse_up", box[2], box[3]).svg


def test_a_box_gives_the_outline_of_the_object_as_an_svg_polygon() -> None:
    image, masks = scene(3)
    tool, history = GrabCutTool(), GrabCutTool().create_empty_history()
    svg = drag_box(tool, image, history, box_of(masks[0]))
    assert history.box == box_of(masks[0])
    match = re.search(r'<polygon points="([^"]+)" fill="#f08c1e"', svg)
    assert match, svg
    points = [tuple(map(int, p.split(","))) for p in match.group(1).split()]
    assert points == history.polygon
    assert iou(polygon_mask(points, *image.shape[:2]), masks[0]) > 0.9


def test_dragging_shows_the_box_being_drawn() -> None:
    image, _ = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    run(tool, image, history, "left_mouse_down", 10, 20)
    svg = run(tool, image, history, "mouse_move", 110, 70).svg
    assert '<rect x="10" y="20" width="101" height="51"' in svg
    assert history.box is None and history.polygon == []


def test_a_foreground_click_alone_segments_around_it_and_a_small_move_is_a_click() -> None:
    image, masks = scene(5)
    ys, xs = np.nonzero(masks[0])
    cx, cy = int(np.median(xs)), int(np.median(ys))
    tool, history = GrabCutTool(), ToolHistory()
    run(tool, image, history, "left_mouse_down", cx, cy)
    run(tool, image, history, "left_mouse_up", cx + 2, cy + 1)
    assert history.box is None and history.foreground == [(cx + 2, cy + 1)]
    assert iou(polygon_mask(history.polygon, *image.shape[:2]), masks[0]) > 0.6


def test_right_and_shift_clicks_are_background_and_each_mark_segments_again() -> None:
    image, masks = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    box = box_of(masks[0], pad=40)
    drag_box(tool, image, history, box)
    before = list(history.polygon)
    outside = next((x, y) for y in range(box[1], box[3]) for x in range(box[0], box[2]) if not masks[0][y, x])
    run(tool, image, history, "right_mouse_down", *outside)
    run(tool, image, history, "right_mouse_up", *outside)
    run(tool, image, history, "left_mouse_down", outside[0] + 1, outside[1], is_shift_key_pressed=True)
    svg = run(tool, image, history, "left_mouse_up", outside[0] + 1, outside[1], is_shift_key_pressed=True).svg
    assert history.background == [outside, (outside[0] + 1, outside[1])] and history.foreground == []
    assert svg.count('fill="#ef4444"') == 2  # the two background marks are drawn
    assert history.polygon and before


def test_enter_answers_the_annotation_in_image_pixels_and_an_empty_svg() -> None:
    image, masks = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    drag_box(tool, image, history, box_of(masks[0]))
    out = run(tool, image, history, "key_up", key_up="Enter")
    assert out.svg == "" and out.annotation is not None
    assert out.annotation.category_id == CATEGORY["id"] and out.annotation.image_id == "img-1"
    assert [(p.x, p.y) for p in out.annotation.shape.points] == history.polygon
    assert all(isinstance(p.x, int) and isinstance(p.y, int) for p in out.annotation.shape.points)


def test_epsilon_simplifies_the_outline() -> None:
    image, masks = scene(3)
    tool = GrabCutTool()
    fine, coarse = ToolHistory(), ToolHistory()
    box = box_of(masks[0])
    for history, epsilon in ((fine, 0.0), (coarse, 8.0)):
        run(tool, image, history, "left_mouse_down", box[0], box[1], epsilon=epsilon)
        run(tool, image, history, "left_mouse_up", box[2], box[3], epsilon=epsilon)
    assert 3 <= len(coarse.polygon) < len(fine.polygon) / 3


def test_confirming_nothing_and_clicking_outside_the_image_are_refused_with_one_line() -> None:
    image, _ = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    with pytest.raises(ToolError, match="nothing to confirm"):
        run(tool, image, history, "key_up", key_up="Enter")
    with pytest.raises(ToolError, match=r"outside the image \(640 x 480 pixels\)"):
        run(tool, image, history, "left_mouse_up", 640, 10)


def test_another_image_starts_over_and_other_keys_and_events_change_nothing() -> None:
    image, masks = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    drag_box(tool, image, history, box_of(masks[0]))
    kept = list(history.polygon)
    for event, extra in (("key_down", {"key_down": "a"}), ("key_up", {"key_up": "Shift"}), ("wheel", {})):
        assert run(tool, image, history, event, 5, 5, **extra).annotation is None
    assert history.polygon == kept
    run(tool, image, history, "mouse_move", 5, 5, image_uuid="img-2")
    assert history.image_uuid == "img-2" and history.polygon == [] and history.box is None


def test_the_category_colour_is_used_only_when_it_is_a_hex_colour() -> None:
    image, masks = scene(3)
    tool, history = GrabCutTool(), ToolHistory()
    box = box_of(masks[0])
    hostile = {**CATEGORY, "color": '"/><script>alert(1)</script>'}
    run(tool, image, history, "left_mouse_down", box[0], box[1], category=hostile)
    svg = run(tool, image, history, "left_mouse_up", box[2], box[3], category=hostile).svg
    assert "<script>" not in svg and 'fill="#3ba4ff"' in svg
