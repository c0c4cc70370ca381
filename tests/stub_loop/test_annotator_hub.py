"""The stub Loop drives an annotation node (stub_loop/annotator_hub.py, routes/annotator.py): a person's input goes
to the connected `annotation_node` of the project and its acknowledgement comes back as it was sent; what the node
confirms is counted at the wire, checked, and stored where trainers find it.

The stub runs in-process under uvicorn on a real port (so a test can shorten its timeout); the annotation node and
the annotation page are python-socketio clients of this test, talking real Socket.IO to it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import uvicorn

from loop_shared.settings import load_settings
from loop_testkit.processes import free_port
from loop_testkit.prometheus import sample
from stub_loop.annotator_hub import AnnotatorHub
from stub_loop.app import create_app
from stub_loop.settings import StubSettings
from tests.stub_loop.conftest import PASSWORD, USER, stub_fastapi

ORG, PROJECT = "zauberzeug", "drawing"
NODE_ACK = {"success": True, "error_msg": None, "payload": "<svg><circle cx='1' cy='2' r='3'/></svg>", "extra": 7}


@dataclass
class Stub:
    url: str
    hub: AnnotatorHub


@pytest.fixture
def live_stub(tmp_path: Path) -> Iterator[Stub]:
    app = create_app(load_settings(StubSettings, data_dir=tmp_path / "stub", username=USER, password=PASSWORD))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the stub did not start"
        time.sleep(0.05)
    yield Stub(f"http://127.0.0.1:{port}", stub_fastapi(app).state.annotators)
    server.should_exit = True
    thread.join(30)


@pytest.fixture
async def http(live_stub: Stub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_stub.url + "/api", timeout=30) as client:
        assert (await client.post("/login", data={"username": USER, "password": PASSWORD})).status_code == 200
        generated = await client.post(f"/{ORG}/projects/generator", json={
            "project_name": PROJECT, "complete": 2, "box_categories": 1, "segmentation_categories": 1})
        assert generated.status_code == 200, generated.text
        yield client


@dataclass
class Project:
    image: dict[str, Any]
    segmentation: dict[str, Any]
    box: dict[str, Any]


@pytest.fixture
async def project(http: httpx.AsyncClient) -> Project:
    ids = (await http.get(f"/{ORG}/projects/{PROJECT}/data")).json()["image_ids"]
    image = (await http.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ids[0]})).json()["images"][0]
    categories = (await http.get(f"/{ORG}/projects/{PROJECT}")).json()["categories"]
    by_type = {c["type"]: c for c in categories}
    return Project(image, by_type["segmentation"], by_type["box"])


@dataclass
class Node:
    """A test-side annotation node: answers every input with NODE_ACK, and on Enter sends `annotation` first."""

    client: socketio.AsyncClient
    inputs: list[dict[str, Any]] = field(default_factory=list)
    logouts: list[Any] = field(default_factory=list)
    annotation: dict[str, Any] | None = None
    confirm_ack: Any = None
    delay: float = 0.0


async def connect(url: str, http: httpx.AsyncClient, node_type: str | None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"session={http.cookies['session']}", "organization": ORG, "project": PROJECT}
    if node_type:
        headers["nodeType"] = node_type
    await client.connect(url, headers=headers, socketio_path="/ws/socket.io", transports=["websocket"])
    return client


@pytest.fixture
async def node(live_stub: Stub, http: httpx.AsyncClient) -> AsyncIterator[Node]:
    client = socketio.AsyncClient(reconnection=False)
    created = Node(client)

    @client.on("handle_user_input")
    async def handle_user_input(user_input: dict[str, Any]) -> dict[str, Any]:
        created.inputs.append(user_input)
        await asyncio.sleep(created.delay)
        if user_input["data"].get("key_up") == "Enter" and created.annotation is not None:
            created.confirm_ack = await client.call("update_segmentation_annotation",
                                                    (ORG, PROJECT, created.annotation), timeout=30)
        return NODE_ACK

    @client.on("user_logout")
    async def user_logout(sid: Any) -> dict[str, Any]:
        created.logouts.append(sid)
        return {"success": True, "error_msg": None, "payload": None}

    headers = {"Cookie": f"session={http.cookies['session']}", "organization": ORG, "project": PROJECT,
               "nodeType": "annotation_node"}
    await client.connect(live_stub.url, headers=headers, socketio_path="/ws/socket.io", transports=["websocket"])
    yield created
    await client.disconnect()


def user_input(project: Project, **data: Any) -> dict[str, Any]:
    base = {"coordinate": {"x": 10, "y": 12}, "event_type": "left_mouse_down",
            "context": {"organization": ORG, "project": PROJECT}, "image_uuid": project.image["id"],
            "category": project.segmentation}
    return {"frontend_id": "person-1", "data": {**base, **data}}


async def until(condition: Any, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not seen")


async def test_an_input_reaches_the_annotation_node_and_its_ack_comes_back_as_sent(
        live_stub: Stub, http: httpx.AsyncClient, node: Node, project: Project) -> None:
    sent = user_input(project, event_type="mouse_move", is_shift_key_pressed=False)
    answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=sent)
    assert answer.status_code == 200, answer.text
    assert answer.json() == NODE_ACK  # the extra key too: nothing added or dropped
    assert node.inputs == [sent]

    page = await connect(live_stub.url, http, node_type=None)  # a page: logged in, no nodeType
    try:
        without_id = {"data": sent["data"]}
        assert await page.call("user_input", without_id, timeout=30) == NODE_ACK
        assert node.inputs[-1] == {"frontend_id": page.get_sid(), "data": sent["data"]}  # the page's session
        assert await page.call("user_logout", timeout=30) == {"success": True, "error_msg": None, "payload": None}
        assert node.logouts == [page.get_sid()]
        await page.call("user_input", without_id, timeout=30)
        sid = page.get_sid()
    finally:
        await page.disconnect()
    await until(lambda: node.logouts == [sid, sid], "user_logout of a page that left")


async def test_without_an_annotation_node_the_input_is_refused_with_the_reason(
        live_stub: Stub, http: httpx.AsyncClient, project: Project) -> None:
    trainer = await connect(live_stub.url, http, node_type="trainer")  # not an annotator
    page = await connect(live_stub.url, http, node_type=None)
    try:
        answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=user_input(project))
        assert answer.status_code == 503
        assert answer.json()["detail"] == f"no annotator connected for {ORG}/{PROJECT}"
        assert await page.call("user_input", user_input(project), timeout=30) == {
            "success": False, "error_msg": f"no annotator connected for {ORG}/{PROJECT}", "payload": None}
    finally:
        await page.disconnect()
        await trainer.disconnect()


async def test_malformed_inputs_are_refused_before_they_reach_the_node(
        live_stub: Stub, http: httpx.AsyncClient, node: Node, project: Project) -> None:
    route = f"/{ORG}/projects/{PROJECT}/annotator/input"
    cases = [
        (user_input(project, coordinate={"x": 1.5, "y": 2}), 422, "coordinate"),
        (user_input(project, event_type="double_click"), 422, "event_type"),
        (user_input(project, image_uuid="no-such-image"), 404, "image no-such-image does not exist"),
        (user_input(project, category={"id": "nope", "name": "x"}), 422, "category nope is not a category"),
        (user_input(project, context={"organization": ORG, "project": "other"}), 422, "is not the project"),
        ({"frontend_id": "x"}, 422, "data"),
    ]
    for body, status, reason in cases:
        answer = await http.post(route, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert reason in str(answer.json()["detail"]), answer.text
    assert (await http.post(f"/{ORG}/projects/missing/annotator/input", json=user_input(project))).status_code == 404
    page = await connect(live_stub.url, http, node_type=None)
    try:
        for body, _, reason in cases:
            if "is not the project" in reason:  # over Socket.IO the input's context is all there is
                reason = f"project {ORG}/other does not exist"
            ack = await page.call("user_input", body, timeout=30)
            assert ack["success"] is False and ack["payload"] is None and reason in ack["error_msg"], ack
        assert (await page.call("user_input", "not an input", timeout=30))["success"] is False
    finally:
        await page.disconnect()
    assert node.inputs == []


async def test_a_confirmed_annotation_is_counted_and_stored_for_trainers(
        live_stub: Stub, http: httpx.AsyncClient, node: Node, project: Project) -> None:
    points = [{"x": 10, "y": 10}, {"x": 40, "y": 12}, {"x": 25, "y": 44}]
    node.annotation = {"id": "a-1", "shape": {"points": points}, "image_id": project.image["id"],
                       "category_id": project.segmentation["id"]}
    before = len(project.image["segmentation_annotations"])
    answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input",
                             json=user_input(project, event_type="key_up", key_up="Enter"))
    assert answer.json() == NODE_ACK
    assert node.confirm_ack == {"success": True, "error_msg": None, "payload": None}

    listing = (await http.get("/stats/received", params={"organization": ORG, "project": PROJECT})).json()
    [arrived] = listing["segmentation_annotations"]
    assert arrived["annotation_id"] == "a-1" and arrived["count"] == 1 and arrived["refused"] is None
    assert arrived["points"] == points and arrived["image_id"] == project.image["id"]
    assert listing["summary"]["segmentation_annotations"] == {"received": 1, "distinct": 1, "repeats": 0}
    metrics = (await http.get(live_stub.url + "/metrics")).text
    assert sample(metrics, "loop_stub_received_segmentation_annotations_total", organization=ORG,
                  project=PROJECT) == 1

    image = (await http.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": project.image["id"]})).json()
    stored = image["images"][0]["segmentation_annotations"]
    assert len(stored) == before + 1
    assert stored[-1] == {**node.annotation, "category_name": project.segmentation["name"]}

    # confirmed again (the same id): counted twice, stored once
    await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input",
                    json=user_input(project, event_type="key_up", key_up="Enter"))
    listing = (await http.get("/stats/received", params={"repeated": "true"})).json()
    assert [a["count"] for a in listing["segmentation_annotations"]] == [2]
    image = (await http.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": project.image["id"]})).json()
    assert len(image["images"][0]["segmentation_annotations"]) == before + 1


async def test_bad_annotations_are_refused_with_a_reason_and_stored_nowhere(
        live_stub: Stub, http: httpx.AsyncClient, node: Node, project: Project) -> None:
    good = {"id": "b-0", "shape": {"points": [{"x": 1, "y": 1}, {"x": 20, "y": 1}, {"x": 5, "y": 20}]},
            "image_id": project.image["id"], "category_id": project.segmentation["id"]}
    width = project.image["width"]
    cases = [
        ({**good, "id": "b-1", "shape": {"points": good["shape"]["points"][:2]}}, "at least 3 points"),
        ({**good, "id": "b-2", "image_id": "nowhere"}, "image nowhere does not exist"),
        ({**good, "id": "b-3", "category_id": project.box["id"]}, "not a segmentation category"),
        ({**good, "id": "b-4", "category_id": "nope"}, "category nope is not a category"),
        ({**good, "id": "b-5", "shape": {"points": [{"x": width + 1, "y": 1}, *good["shape"]["points"][1:]]}},
         "outside the image"),
        ({**good, "id": "b-6", "shape": {"points": [{"x": "a", "y": 1}]}}, "invalid segmentation annotation"),
    ]
    for annotation, reason in cases:
        ack = await node.client.call("update_segmentation_annotation", (ORG, PROJECT, annotation), timeout=30)
        assert ack["success"] is False and reason in ack["error_msg"], (annotation, ack)
    ack = await node.client.call("update_segmentation_annotation", (ORG, good), timeout=30)
    assert ack == {"success": False, "error_msg": "update_segmentation_annotation takes (organization, project, "
                                                  "annotation)", "payload": None}
    ack = await node.client.call("update_segmentation_annotation", (ORG, "other", good), timeout=30)
    assert "serves" in ack["error_msg"]
    page = await connect(live_stub.url, http, node_type=None)
    try:  # a page is not an annotation node
        ack = await page.call("update_segmentation_annotation", (ORG, PROJECT, good), timeout=30)
        assert "only annotation nodes" in ack["error_msg"]
    finally:
        await page.disconnect()

    listing = (await http.get("/stats/received", params={"project": PROJECT})).json()["segmentation_annotations"]
    refused = {a["annotation_id"]: a["refused"] for a in listing}
    assert set(refused) == {"b-0", "b-1", "b-2", "b-3", "b-4", "b-5", "b-6"}  # every arrival counted
    assert all(refused.values())
    images = (await http.get(f"/{ORG}/projects/{PROJECT}/images",
                             params={"ids": project.image["id"]})).json()["images"]
    assert images[0]["segmentation_annotations"] == project.image["segmentation_annotations"]


async def test_statuses_are_kept_and_a_silent_node_times_out(
        live_stub: Stub, http: httpx.AsyncClient, node: Node, project: Project) -> None:
    status = {"id": "n-1", "name": "drawer", "state": "online", "uptime": 3, "errors": {},
              "capabilities": ["segmentation"]}
    assert await node.client.call("update_annotation_node", status, timeout=30) == {
        "success": True, "error_msg": None, "payload": None}
    [listed] = (await http.get("/annotators")).json()["annotators"]
    assert listed["status"] == status and listed["sid"] == node.client.get_sid()
    bad = await node.client.call("update_annotation_node", {"name": "no id"}, timeout=30)
    assert bad["success"] is False and "id" in bad["error_msg"]

    live_stub.hub.timeout = 0.5
    node.delay = 5.0
    answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=user_input(project))
    assert answer.status_code == 504 and "did not answer within 0.5 s" in answer.json()["detail"]
    node.delay = 0.0
    answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=user_input(project))
    assert answer.json() == NODE_ACK  # the stub and the node go on


async def test_the_frontends_remembered_are_bounded(live_stub: Stub, http: httpx.AsyncClient, node: Node,
                                                    project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stub_loop.annotator_hub.MAX_ROUTES", 2)
    for person in ("p1", "p2", "p3"):
        answer = await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input",
                                 json={**user_input(project), "frontend_id": person})
        assert answer.json() == NODE_ACK
    assert list(live_stub.hub.routes) == ["p2", "p3"]  # the oldest forgotten


async def test_a_rest_logout_reaches_the_node_that_served_the_frontend(
        http: httpx.AsyncClient, node: Node, project: Project) -> None:
    logout = f"/{ORG}/projects/{PROJECT}/annotator/logout"
    unknown = await http.post(logout, json={"frontend_id": "person-1"})  # no input yet: no node serves it
    assert unknown.status_code == 200 and unknown.json()["success"] is False and node.logouts == []
    assert (await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=user_input(project))).json() == NODE_ACK
    answer = await http.post(logout, json={"frontend_id": "person-1"})
    assert answer.json() == {"success": True, "error_msg": None, "payload": None}
    assert node.logouts == ["person-1"]
    rest = {k: v for k, v in user_input(project).items() if k != "frontend_id"}
    assert (await http.post(f"/{ORG}/projects/{PROJECT}/annotator/input", json=rest)).json() == NODE_ACK
    assert (await http.post(logout, json={})).json()["success"] is True  # the frontend REST inputs share
    assert node.logouts == ["person-1", "rest"]
    assert (await http.post(logout, json={"frontend_id": ""})).status_code == 422
    assert (await http.post(logout, json={"frontend_id": "x", "more": 1})).status_code == 422
    assert (await http.post(f"/{ORG}/projects/nothing/annotator/logout", json={})).status_code == 404


def test_the_forward_timeout_is_a_setting(tmp_path: Path) -> None:
    settings = load_settings(StubSettings, data_dir=tmp_path, stub_annotator_timeout=2.5)
    assert stub_fastapi(create_app(settings)).state.annotators.timeout == 2.5
    assert load_settings(StubSettings, data_dir=tmp_path).stub_annotator_timeout == 30.0
