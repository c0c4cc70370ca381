"""What the node does with each user input the Loop forwards (protocol §8.1), and with a logout.

Check the input, answer Escape by dropping the person's history, fetch the image, run the plugin on the person's
history (their events one at a time, in a worker thread), send a confirmed annotation to the Loop, answer the SVG.
Whatever goes wrong answers `success: false` with one line saying why, and the node goes on serving: a plugin's
ToolError keeps the history, any other failure of the plugin resets it (as the reference does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from loop_shared.names import UnsafeNameError
from loop_shared.schemas import AnnotationEventType, SegmentationAnnotation, SocketResponse, ToolOutput, UserInput
from loop_shared.tasks import one_line

from .histories import Histories
from .images import ImageCache, ImageUnavailable
from .logic import AnnotatorLogic, ToolError
from .metrics import AnnotatorMetrics

log = logging.getLogger("annotator")
Send = Callable[[str, str, SegmentationAnnotation], Awaitable[None]]
RECENT = 50
MAX_ID = 256


class Refused(Exception):
    """The input gets `success: false` with this message (one line)."""


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "input"
    return f"{where}: {first['msg']}"


def _line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


class InputHandler:
    def __init__(self, logic: AnnotatorLogic, histories: Histories, images: ImageCache, send: Send,
                 metrics: AnnotatorMetrics) -> None:
        self.logic, self.histories, self.images, self.send, self.metrics = logic, histories, images, send, metrics
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)  # for the page
        self.handled = 0

    async def handle_user_input(self, raw: Any) -> dict[str, Any]:
        """The acknowledgement of one `handle_user_input`: `{"success", "error_msg", "payload"}`."""
        start = time.perf_counter()
        event_type = "other"
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            event_type = str(raw["data"].get("event_type", "other"))[:40]
        try:
            ack = SocketResponse.ok(await self._handle(raw))
        except Refused as e:
            ack = SocketResponse.failure(str(e))
        except Exception as e:  # a bug (ours or the plugin's outside handle_user_input): logged, and still an ack
            log.error("user input failed: %s", one_line(e), exc_info=e)
            ack = SocketResponse.failure(f"the annotator failed on this input ({one_line(e)})")
        seconds = time.perf_counter() - start
        self.handled += 1
        self.metrics.event(event_type, ack["success"], seconds)
        self.recent.appendleft({"time": time.time(), "event_type": event_type, "success": ack["success"],
                                "error_msg": ack["error_msg"], "ms": round(seconds * 1000, 1)})
        return ack

    async def _handle(self, raw: Any) -> str:
        try:
            user_input = UserInput.model_validate(raw)
        except ValidationError as e:
            raise Refused(_line(f"invalid user input: {_first_error(e)}")) from None
        frontend_id, data = user_input.frontend_id, user_input.data
        if not frontend_id or len(frontend_id) > MAX_ID:
            raise Refused(f"invalid user input: frontend_id must have 1 to {MAX_ID} characters")
        if data.event_type == AnnotationEventType.KEY_UP and data.key_up == "Escape":
            self.histories.forget(frontend_id)
            return ""
        try:
            image = await self.images.get(data.context.organization, data.context.project, data.image_uuid)
        except (UnsafeNameError, ImageUnavailable) as e:
            raise Refused(_line(str(e))) from None
        entry = self.histories.entry(frontend_id, self.logic.create_empty_history)
        async with entry.lock:
            output = await self._run_logic(user_input, image, entry.history)
            self.histories.measure(frontend_id)
            if output.annotation is not None:
                await self._send(data.context.organization, data.context.project, output.annotation)
                self.histories.reset(frontend_id, self.logic.create_empty_history)
        return output.svg

    async def _run_logic(self, user_input: UserInput, image: Any, history: Any) -> ToolOutput:
        frontend_id = user_input.frontend_id
        try:
            output = await asyncio.to_thread(self.logic.handle_user_input, user_input, image, history)
        except ToolError as e:
            raise Refused(_line(str(e)) or "the tool refused this input") from None
        except Exception as e:  # a plugin's bug must not end the node: the person starts over instead
            log.warning("the annotation tool failed on %s: %s", user_input.data.event_type, one_line(e),
                        exc_info=e)
            self.histories.reset(frontend_id, self.logic.create_empty_history)
            raise Refused(f"the annotation tool failed ({one_line(e)}); start this object again") from None
        if not isinstance(output, ToolOutput):
            self.histories.reset(frontend_id, self.logic.create_empty_history)
            raise Refused(f"the annotation tool answered a {type(output).__name__}, not a ToolOutput")
        return output

    async def _send(self, organization: str, project: str, annotation: SegmentationAnnotation) -> None:
        try:
            await self.send(organization, project, annotation)
        except Exception as e:  # not connected, a timeout, a refusal: the person may press Enter again
            self.metrics.annotations.labels(result="failed").inc()
            log.warning("could not send an annotation of image %s: %s", annotation.image_id, one_line(e))
            raise Refused(_line(f"could not send the annotation to the Loop ({one_line(e)}); confirm again")) \
                from None
        self.metrics.annotations.labels(result="sent").inc()
        log.info("sent annotation %s of image %s (%d points)", annotation.id, annotation.image_id,
                 len(annotation.shape.points))

    async def user_logout(self, frontend_id: Any) -> dict[str, Any]:
        if not isinstance(frontend_id, str) or not frontend_id:
            return SocketResponse.failure("user_logout takes one argument: the frontend id (a string)")
        self.histories.forget(frontend_id)
        try:
            done = await asyncio.to_thread(self.logic.logout_user, frontend_id)
        except Exception as e:  # the history is gone either way; the Loop is told what the plugin said
            log.warning("the annotation tool failed to log out %s: %s", frontend_id[:40], one_line(e))
            return SocketResponse.failure(f"the annotation tool failed to log out: {one_line(e)}")
        return {"success": bool(done), "error_msg": None, "payload": None}
