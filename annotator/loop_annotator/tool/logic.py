"""`GrabCutTool`, the default annotator plugin: drag a box or click the object, right-click what does not belong.

- Left button down, move, up farther than a few pixels away: a box around the object (a new box starts over).
- Left click (or Shift + left click): the object is here (foreground); Shift marks background instead.
- Right click: this does not belong to the object (background).
- Each mark segments again with all marks (grabcut.py); the answer is the outline as an SVG polygon,
  simplified by the input's `epsilon` (image pixels; default DEFAULT_EPSILON), with the box and the clicks.
- Enter (or another key in CONFIRM_KEYS) sends the outline as the annotation. Escape is handled by the node.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, ClassVar

import numpy as np

from loop_shared.schemas import AnnotationEventType, Point, SegmentationAnnotation, Shape, ToolOutput, UserInput

from ..logic import AnnotatorLogic, ToolError
from .grabcut import outline, segment
from .history import ToolHistory, Xy
from .svg import history_svg, safe_colour

DEFAULT_EPSILON = 1.5
DRAG_PIXELS = 6  # a left press and release farther apart than this (image pixels) is a box, else a click
MAX_MARKS = 64   # clicks kept per object; older ones are dropped first


class GrabCutTool(AnnotatorLogic):
    """The default tool: GrabCut (OpenCV) seeded by a box and clicks; see the module docstring."""

    confirm_keys: ClassVar[tuple[str, ...]] = ("Enter", "NumpadEnter")

    def create_empty_history(self) -> ToolHistory:
        return ToolHistory()

    def logout_user(self, frontend_id: str) -> bool:
        return True  # the tool keeps nothing outside the histories, which the node has dropped already

    def handle_user_input(self, user_input: UserInput, image: np.ndarray, history: Any) -> ToolOutput:
        if not isinstance(history, ToolHistory):
            raise TypeError(f"GrabCutTool got a {type(history).__name__} as history")
        data = user_input.data
        height, width = image.shape[:2]
        if history.image_uuid != data.image_uuid:
            history.start_over(data.image_uuid)
        colour = safe_colour(data.category.color)
        at = (data.coordinate.x, data.coordinate.y)
        event = data.event_type
        if event == AnnotationEventType.KEY_UP and data.key_up in self.confirm_keys:
            return self._confirm(user_input, history)
        mark_event = event in (AnnotationEventType.LEFT_MOUSE_UP, AnnotationEventType.RIGHT_MOUSE_UP,
                               AnnotationEventType.LEFT_MOUSE_DOWN)
        if mark_event and not (0 <= at[0] < width and 0 <= at[1] < height):
            history.press = None
            raise ToolError(f"the point ({at[0]}, {at[1]}) is outside the image ({width} x {height} pixels)")
        if event == AnnotationEventType.LEFT_MOUSE_DOWN:
            history.press = at
        elif event == AnnotationEventType.MOUSE_MOVE and history.press is not None:
            return ToolOutput(svg=history_svg(history, colour, dragging_to=self._clip(at, width, height)))
        elif event == AnnotationEventType.LEFT_MOUSE_UP:
            self._left_up(history, at, bool(data.is_shift_key_pressed))
            self._segment(history, image, data.epsilon)
        elif event == AnnotationEventType.RIGHT_MOUSE_UP:
            history.background = [*history.background, at][-MAX_MARKS:]
            self._segment(history, image, data.epsilon)
        return ToolOutput(svg=history_svg(history, colour))

    @staticmethod
    def _clip(at: Xy, width: int, height: int) -> Xy:
        return min(max(at[0], 0), width - 1), min(max(at[1], 0), height - 1)

    @staticmethod
    def _left_up(history: ToolHistory, at: Xy, shift: bool) -> None:
        press, history.press = history.press, None
        if press is not None and math.dist(press, at) > DRAG_PIXELS:
            history.box = (min(press[0], at[0]), min(press[1], at[1]), max(press[0], at[0]), max(press[1], at[1]))
            history.foreground, history.background = [], []
        elif shift:
            history.background = [*history.background, at][-MAX_MARKS:]
        else:
            history.foreground = [*history.foreground, at][-MAX_MARKS:]

    @staticmethod
    def _segment(history: ToolHistory, image: np.ndarray, epsilon: float | None) -> None:
        result = segment(image, history.box, history.foreground, history.background)
        if result is None:
            history.polygon = []
            return
        mask, region = result
        history.polygon = outline(mask, region, DEFAULT_EPSILON if epsilon is None else max(0.0, epsilon))

    @staticmethod
    def _confirm(user_input: UserInput, history: ToolHistory) -> ToolOutput:
        if not history.polygon:
            raise ToolError("nothing to confirm: drag a box around the object or click it first")
        data = user_input.data
        annotation = SegmentationAnnotation(
            id=str(uuid.uuid4()), shape=Shape(points=[Point(x=x, y=y) for x, y in history.polygon]),
            image_id=data.image_uuid, category_id=data.category.id)
        return ToolOutput(svg="", annotation=annotation)
