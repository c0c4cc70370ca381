"""Drive the reference library's own AnnotatorNode (`learning_loop_node` 0.27) through a running stub Loop.

Run by `make compat` inside the throw-away venv that has only the reference client installed (compat/run_check.sh),
with LOOP_PROJECT naming the segmentation project this script generates first. The node runs a trivial
AnnotatorLogic of its own: it answers a dot at the input's point, and on Enter a triangle around it as the
annotation. The stub drives it as the Loop's annotation page does, through `POST .../annotator/input`. Checks: it
connected as annotation_node and its status arrived; an input got its SVG back; Escape gave ""; an Enter produced
an annotation that the stub counted on arrival and stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from typing import Any

import httpx
import uvicorn
from learning_loop_node.annotation.annotator_logic import AnnotatorLogic
from learning_loop_node.annotation.annotator_node import AnnotatorNode
from learning_loop_node.data_classes import Point, SegmentationAnnotation, Shape, ToolOutput, UserInput

ORG, PROJECT = os.environ["LOOP_ORGANIZATION"], os.environ["LOOP_PROJECT"]
BASE = "http://" + os.environ["LOOP_HOST"] + "/api"
X, Y = 50, 40  # where the person clicks, in image pixels
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}", flush=True)


class TriangleLogic(AnnotatorLogic):
    """Draws a dot where the person pointed; Enter confirms a triangle around that point."""

    def create_empty_history(self) -> dict:
        return {"inputs": 0}

    async def handle_user_input(self, user_input: UserInput, history: dict) -> ToolOutput:
        data = user_input.data
        history["inputs"] += 1
        x, y = data.coordinate.x, data.coordinate.y
        if data.key_up == "Enter":
            triangle = [Point(x=x, y=y - 10), Point(x=x - 10, y=y + 10), Point(x=x + 10, y=y + 10)]
            return ToolOutput(svg="", annotation=SegmentationAnnotation(
                id=str(uuid.uuid4()), shape=Shape(points=triangle), image_id=data.image_uuid,
                category_id=data.category.id))
        return ToolOutput(svg=f'<circle cx="{x}" cy="{y}" r="3"/>')

    def logout_user(self, sid: str) -> bool:
        return True


async def wait_for_annotator(client: httpx.AsyncClient) -> dict[str, Any] | None:
    for _ in range(150):
        annotators = (await client.get("/annotators")).json()["annotators"]
        reported = [a for a in annotators if a.get("status")]
        if reported:
            return dict(reported[0])
        await asyncio.sleep(0.2)
    return None


async def drive(client: httpx.AsyncClient) -> None:
    annotator = await wait_for_annotator(client)
    check("connected as annotation_node, its status arrived", annotator is not None
          and (annotator["organization"], annotator["project"]) == (ORG, PROJECT)
          and annotator["status"].get("capabilities") == ["segmentation"], str(annotator))
    if annotator is None:
        return
    image_id = (await client.get(f"/{ORG}/projects/{PROJECT}/data")).json()["image_ids"][0]
    categories = (await client.get(f"/{ORG}/projects/{PROJECT}")).json()["categories"]
    category = next(c for c in categories if c["type"] == "segmentation")
    route = f"/{ORG}/projects/{PROJECT}/annotator/input"

    def user_input(event_type: str, **extra: Any) -> dict[str, Any]:
        return {"frontend_id": "compat-person", "data": {
            "coordinate": {"x": X, "y": Y}, "event_type": event_type,
            "context": {"organization": ORG, "project": PROJECT}, "image_uuid": image_id, "category": category,
            **extra}}

    answer = await client.post(route, json=user_input("left_mouse_down"))
    check("an input gets the node's SVG", answer.status_code == 200 and answer.json() == {
        "success": True, "error_msg": None, "payload": f'<circle cx="{X}" cy="{Y}" r="3"/>'}, answer.text[:200])
    answer = await client.post(route, json=user_input("key_up", key_up="Escape"))
    check("Escape gives an empty SVG", answer.status_code == 200 and answer.json().get("payload") == "",
          answer.text[:200])
    answer = await client.post(route, json=user_input("key_up", key_up="Enter"))
    check("Enter is acknowledged", answer.status_code == 200 and answer.json().get("success") is True,
          answer.text[:200])
    listing = (await client.get("/stats/received", params={"organization": ORG, "project": PROJECT})).json()
    arrived = listing["segmentation_annotations"]
    check("its annotation was counted on arrival and accepted", len(arrived) == 1 and arrived[0]["count"] == 1
          and arrived[0]["refused"] is None and arrived[0]["image_id"] == image_id
          and arrived[0]["points"] == [{"x": X, "y": Y - 10}, {"x": X - 10, "y": Y + 10}, {"x": X + 10, "y": Y + 10}],
          str(arrived))
    images = (await client.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": image_id})).json()["images"]
    stored = [a["id"] for a in images[0]["segmentation_annotations"]]
    check("the stub stored it in the image's data", bool(arrived) and arrived[0]["annotation_id"] in stored)


async def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    async with httpx.AsyncClient(base_url=BASE, timeout=60) as client:
        generated = await client.post(f"/{ORG}/projects/generator", json={
            "project_name": PROJECT, "complete": 2, "box_categories": 0, "segmentation_categories": 1})
        check("segmentation project generated", generated.status_code == 200, generated.text[:200])
        login = await client.post("/login", data={"username": os.environ["LOOP_USERNAME"],
                                                  "password": os.environ["LOOP_PASSWORD"]})
        check("login", login.status_code == 200)
        node = AnnotatorNode("compat annotator", TriangleLogic())
        port = int(os.environ.get("COMPAT_ANNOTATOR_PORT", "8095"))
        server = uvicorn.Server(uvicorn.Config(node, host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        try:
            await drive(client)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 30)
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
