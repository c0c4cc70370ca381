"""The Loop's side of the annotation protocol (protocol §4.3, §4.4, §8.1): a person's inputs go to an annotation node,
its SVG answers come back, and the annotations it confirms are counted, checked and stored.

A person's page (or a test, or curl through `POST .../annotator/input`) sends `user_input` to the stub; the stub
forwards it as `handle_user_input` to an `annotation_node` connected for the project and answers with the node's
acknowledgement as it came. Inputs of one `frontend_id` keep going to the node that answered its first one (the node
keeps the drawing history). When a page's connection ends, the node that served it gets `user_logout`.
The connections themselves are kept in one place, the trainer hub's registry.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import socketio
from pydantic import ValidationError

from loop_shared.schemas import AnnotationNodeStatus, SegmentationAnnotation

from .received import ReceivedCounts
from .store import Store
from .trainer_hub import Connection, TrainerHub
from .user_input import PageInput

log = logging.getLogger("stub.annotator")
ANNOTATION_NODE = "annotation_node"
DEFAULT_TIMEOUT_S = 30.0
MAX_ROUTES = 10_000  # frontends remembered; the oldest is forgotten first (it is routed anew if it comes back)


class NoAnnotatorError(Exception):
    """No annotation node is connected for the project."""


class AnnotatorTimeout(Exception):
    """The annotation node did not acknowledge in time."""


class BadInput(Exception):
    """The input names no image or category of the project, or is not for this project."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def failure(message: str) -> dict[str, Any]:
    return {"success": False, "error_msg": message, "payload": None}


def _first_error(e: ValidationError) -> str:
    error = e.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the input"
    return f"{where}: {error['msg']}"


class AnnotatorHub:
    def __init__(self, registry: TrainerHub, store: Store, counts: ReceivedCounts, sio: socketio.AsyncServer,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.registry = registry
        self.store = store
        self.counts = counts
        self.sio = sio
        self.timeout = timeout  # seconds a node has to acknowledge an input or a logout
        self.routes: dict[str, str] = {}  # frontend_id -> sid of the annotation node that serves it
        self._logouts: set[asyncio.Task[Any]] = set()
        sio.on("update_annotation_node", self.on_update_annotation_node)
        sio.on("update_segmentation_annotation", self.on_update_segmentation_annotation)
        sio.on("user_input", self.on_user_input)
        sio.on("user_logout", self.on_user_logout)
        registry.disconnect_listeners.append(self.on_disconnect)

    # who serves whom -------------------------------------------------------------------------------------------
    def annotators(self) -> list[dict[str, Any]]:
        return [{"sid": c.sid, "organization": c.organization, "project": c.project, "status": c.status}
                for c in self.registry.connections.values() if c.node_type == ANNOTATION_NODE]

    def _pick(self, org: str, project: str, frontend_id: str) -> Connection:
        connections = self.registry.connections
        routed = connections.get(self.routes.get(frontend_id, ""))
        if routed is not None and routed.serves(org, project):
            return routed
        candidates = [c for c in connections.values() if c.node_type == ANNOTATION_NODE and c.serves(org, project)]
        if not candidates:
            raise NoAnnotatorError(f"no annotator connected for {org}/{project}")
        # one that reported its status first: it is past its start-up
        chosen = sorted(candidates, key=lambda c: c.status is None)[0]
        self.routes[frontend_id] = chosen.sid
        while len(self.routes) > MAX_ROUTES:
            del self.routes[next(iter(self.routes))]
        return chosen

    # a person's inputs ----------------------------------------------------------------------------------------
    def check_input(self, user_input: PageInput, org: str | None = None, project: str | None = None) -> None:
        """Raise BadInput unless the input is for `org/project` (when given) and names an image and a category of
        its project. Blocking (the store): call it off the event loop."""
        data = user_input.data
        context = (data.context.organization, data.context.project)
        if org is not None and context != (org, project):
            raise BadInput(f"the input's context {context[0]}/{context[1]} is not the project {org}/{project}")
        if not self.store.project_exists(*context):
            raise BadInput(f"project {context[0]}/{context[1]} does not exist", 404)
        if not self.store.image_in_project(*context, data.image_uuid):
            raise BadInput(f"image {data.image_uuid} does not exist in {context[0]}/{context[1]}", 404)
        if data.category.id not in {c["id"] for c in self.store.categories(*context)}:
            raise BadInput(f"category {data.category.id} is not a category of {context[0]}/{context[1]}")

    async def forward_input(self, user_input: dict[str, Any]) -> Any:
        """Send `handle_user_input` to the node serving the input's frontend and return its ack as it came."""
        context = user_input["data"]["context"]
        conn = self._pick(context["organization"], context["project"], user_input["frontend_id"])
        try:
            return await self.sio.call("handle_user_input", user_input, to=conn.sid, timeout=self.timeout)
        except socketio.exceptions.TimeoutError as e:
            raise AnnotatorTimeout(f"the annotator did not answer within {self.timeout:g} s") from e

    async def forward_logout(self, frontend_id: str) -> Any:
        """Send `user_logout(frontend_id)` to the node that served the frontend; its ack."""
        conn = self.registry.connections.get(self.routes.pop(frontend_id, ""))
        if conn is None:
            return failure(f"no annotator serves {frontend_id}")
        try:
            return await self.sio.call("user_logout", frontend_id, to=conn.sid, timeout=self.timeout)
        except socketio.exceptions.TimeoutError:
            return failure(f"the annotator did not answer within {self.timeout:g} s")

    async def on_user_input(self, sid: str, data: Any = None) -> Any:
        """A page's input: `user_input(UserInput)`; acked with the node's ack, or success false and why."""
        try:
            user_input = PageInput.model_validate(data)
        except ValidationError as e:
            return failure(f"invalid user input: {_first_error(e)}")
        try:
            await asyncio.to_thread(self.check_input, user_input)
        except BadInput as e:
            return failure(str(e))
        forwarded = {**data, "frontend_id": user_input.frontend_id or sid}
        try:
            return await self.forward_input(forwarded)
        except (NoAnnotatorError, AnnotatorTimeout) as e:
            return failure(str(e))

    async def on_user_logout(self, sid: str, frontend_id: Any = None) -> Any:
        """A page logs out its session (`frontend_id`, default its own sid): the node forgets its history."""
        if frontend_id is not None and not isinstance(frontend_id, str):
            return failure("user_logout takes the frontend_id (a string) or nothing")
        return await self.forward_logout(frontend_id or sid)

    async def on_disconnect(self, sid: str) -> None:
        for frontend_id, node_sid in list(self.routes.items()):
            if node_sid == sid:  # the node is gone: its frontends are routed anew
                del self.routes[frontend_id]
        if sid in self.routes:  # a page is gone: its node forgets the page's history (without holding this up)
            task = asyncio.create_task(self.forward_logout(sid))
            self._logouts.add(task)
            task.add_done_callback(self._logouts.discard)

    # what annotation nodes send -------------------------------------------------------------------------------
    async def on_update_annotation_node(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            status = AnnotationNodeStatus.model_validate(data)
        except ValidationError as e:
            return failure(f"invalid annotation node status: {_first_error(e)}")
        conn = self.registry.connections.get(sid)
        if conn is not None:
            conn.status = status.model_dump(mode="json", exclude_unset=True)
        return {"success": True, "error_msg": None, "payload": None}

    async def on_update_segmentation_annotation(self, sid: str, *args: Any) -> dict[str, Any]:
        """`update_segmentation_annotation(organization, project, annotation)`: counted as it arrived, then
        checked and stored in the image's `segmentation_annotations`, where trainers find it."""
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if len(args) != 3 or not isinstance(args[0], str) or not isinstance(args[1], str) \
                or not isinstance(args[2], dict):
            return failure("update_segmentation_annotation takes (organization, project, annotation)")
        org, project, raw = args
        refused = await asyncio.to_thread(self._store_annotation, sid, org, project, raw)
        if refused:
            log.info("refused a segmentation annotation for %s/%s: %s", org, project, refused)
            return failure(refused)
        return {"success": True, "error_msg": None, "payload": None}

    def _store_annotation(self, sid: str, org: str, project: str, raw: dict[str, Any]) -> str | None:
        """Check and store; count the arrival whatever the verdict. The reason it was refused, or None."""
        refused = self._refusal(sid, org, project, raw)
        if refused is None:
            annotation = SegmentationAnnotation.model_validate(raw).model_dump(mode="json")
            category = next(c for c in self.store.categories(org, project) if c["id"] == annotation["category_id"])
            if not self.store.put_segmentation_annotation(org, project, {**annotation,
                                                                         "category_name": category["name"]}):
                refused = f"image {annotation['image_id']} does not exist in {org}/{project}"  # deleted meanwhile
        if isinstance(raw.get("id"), str):
            self.counts.segmentation_annotation(org, project, raw, refused)
        return refused

    def _refusal(self, sid: str, org: str, project: str, raw: dict[str, Any]) -> str | None:
        conn = self.registry.connections.get(sid)
        if conn is None or conn.node_type != ANNOTATION_NODE:
            return "only annotation nodes send segmentation annotations (connect with nodeType annotation_node)"
        if not conn.serves(org, project):
            return f"this annotation node serves {conn.organization}/{conn.project}, not {org}/{project}"
        try:
            annotation = SegmentationAnnotation.model_validate(raw)
        except ValidationError as e:
            return f"invalid segmentation annotation: {_first_error(e)}"
        if not self.store.project_exists(org, project):
            return f"project {org}/{project} does not exist"
        image = self.store.image_record(org, project, annotation.image_id)
        if image is None:
            return f"image {annotation.image_id} does not exist in {org}/{project}"
        category = next((c for c in self.store.categories(org, project) if c["id"] == annotation.category_id), None)
        if category is None:
            return f"category {annotation.category_id} is not a category of {org}/{project}"
        if category.get("type") not in (None, "segmentation"):
            return f"category {category['name']} is a {category['type']} category, not a segmentation category"
        points = annotation.shape.points
        if len(points) < 3:
            return f"a polygon needs at least 3 points, not {len(points)}"
        width, height = image.get("width"), image.get("height")
        for p in points:
            if not (math.isfinite(p.x) and math.isfinite(p.y)):
                return "a polygon point is not a finite number"
            if isinstance(width, int) and isinstance(height, int) and not (0 <= p.x <= width and 0 <= p.y <= height):
                return f"the point ({p.x}, {p.y}) lies outside the image ({width} x {height})"
        return None
