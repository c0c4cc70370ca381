"""The annotator plugin: what a user implements to offer their own annotation tool (e.g. a SAM model).

Choose an implementation with `LOOP_ANNOTATOR_LOGIC=my_package.module:MyTool`; the default is the OpenCV tool
in `loop_annotator.tool` (GrabCut seeded by a box and clicks). The node does everything around the tool: it
checks each input, downloads and caches the image, keeps one history per person (`frontend_id`), bounded in
number, memory and age, clears it on Escape and logout, and sends the confirmed annotation to the Loop.

Example (the wire models are `loop_shared.schemas`')::

    from loop_shared.schemas import Point, SegmentationAnnotation, Shape, ToolOutput

    class MyTool(AnnotatorLogic):
        def create_empty_history(self):
            return {"clicks": []}

        def handle_user_input(self, user_input, image, history):
            data = user_input.data
            if data.event_type == "left_mouse_up":
                history["clicks"].append((data.coordinate.x, data.coordinate.y))
            polygon = my_model.segment(image, history["clicks"])            # [(x, y), ...] in image pixels
            if data.key_up == "Enter":
                return ToolOutput(svg="", annotation=SegmentationAnnotation(
                    id=str(uuid.uuid4()), shape=Shape(points=[Point(x=x, y=y) for x, y in polygon]),
                    image_id=data.image_uuid, category_id=data.category.id))
            return ToolOutput(svg=f'<polygon points="{points(polygon)}" fill="{data.category.color}"/>')

        def logout_user(self, frontend_id):
            return True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from loop_shared.schemas import ToolOutput, UserInput


class ToolError(Exception):
    """Raise from `handle_user_input` for an input the tool cannot use (a click outside the image, a confirm with
    nothing to confirm). The person gets `success: false` with the message (one line they can act on) and the
    history stays as it was. Any other exception also answers `success: false`, but resets the history."""


class AnnotatorLogic(ABC):
    """Base class of annotator plugins: implement the three methods below.

    `capabilities` is reported to the Loop with every status (`update_annotation_node`).
    """

    capabilities: ClassVar[list[str]] = ["segmentation"]

    @abstractmethod
    def create_empty_history(self) -> Any:
        """A fresh history for a person who starts annotating an image (or pressed Escape). Whatever it is, the
        node hands it back to every later `handle_user_input` of that person, until the annotation is confirmed
        and sent, the person presses Escape, logs out, switches image, or stays away too long. Keep it small:
        the node measures it (numpy arrays count by `nbytes`) and drops the oldest histories above its memory
        budget (`LOOP_HISTORY_MEMORY_MB`)."""

    @abstractmethod
    def handle_user_input(self, user_input: UserInput, image: np.ndarray, history: Any) -> ToolOutput:
        """One event of a person (`user_input.data.event_type`: mouse down/up/move, key up/down) on `image`
        (H x W x 3 RGB uint8, the full image `data.image_uuid`), with their history, which this may change.

        Runs in a worker thread; the events of one person arrive one at a time, in order. Return the SVG to
        draw over the image (elements in image pixels, no `<svg>` wrapper; "" for nothing) and, when the person
        confirmed, the finished annotation: the node sends it to the Loop and then starts an empty history.
        Escape never reaches here (the node resets the history itself). Raise ToolError for unusable input.
        """

    @abstractmethod
    def logout_user(self, frontend_id: str) -> bool:
        """The person `frontend_id` logged out (the node has dropped their history already); release anything
        else kept for them. Return whether that succeeded (it becomes the acknowledgement's `success`)."""
