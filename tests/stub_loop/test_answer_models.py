"""Every JSON route of the stub Loop declares a typed answer (so `/docs` shows it), and the models change nothing.

A response model filters what it does not know and fills in defaults: the answers below are compared with what the
store holds (what the routes answered before they had models), key for key and value for value.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from loop_shared.loop_api import LoopImage, LoopModel, paths
from stub_loop import schemas
from stub_loop.routes.pages import demo_image
from stub_loop.store import Store
from tests.stub_loop.conftest import PASSWORD, USER, stub_fastapi

ORG, PROJECT = "zauberzeug", "demo"


@pytest.fixture
async def http(stub_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stub_app), base_url="http://stub.test") as client:
        assert (await client.post("/api/login", data={"username": USER, "password": PASSWORD})).status_code == 200
        yield client


# the routes that answer a file, not JSON
FILE_ROUTES = {("get", paths.API_PREFIX + paths.IMAGE_FILE.template),
               ("get", paths.API_PREFIX + paths.MODEL_FILE.template),
               ("get", "/ui/{org}/{project}/images/{image_id}.jpg")}


def test_every_json_route_declares_an_answer_model(stub_app: Any) -> None:
    schema = stub_fastapi(stub_app).openapi()
    checked = 0
    for path, operations in schema["paths"].items():
        if not (path.startswith(("/api/", "/ui/")) or path == "/demo.json"):
            continue
        for method, operation in operations.items():
            if (method, path) in FILE_ROUTES:
                continue
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert "$ref" in answer, f"{method.upper()} {path} declares no answer model: {answer}"
            model = schema["components"]["schemas"][answer["$ref"].rpartition("/")[2]]
            assert model.get("properties"), f"{method.upper()} {path} answers a bare object: {model}"
            checked += 1
    assert checked >= 29  # every JSON route of the stub, not a few


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", b"not really onnx")
        archive.writestr("model.json", json.dumps({"map50": 0.5, "resolution": 32}))
    return buffer.getvalue()


def same(answer: Any, expected: Any) -> None:
    """Equal as JSON, key order aside (`1` and `1.0` differ here, as they do on the wire)."""
    assert json.dumps(answer, sort_keys=True) == json.dumps(expected, sort_keys=True)


def unchanged_by(model: type[BaseModel], answer: Any) -> None:
    """The answer is valid under its model, and the model drops and adds nothing."""
    same(model.model_validate(answer).model_dump(mode="json"), answer)


async def test_answers_validate_against_their_models_and_carry_what_the_store_holds(
        stub_app: Any, http: httpx.AsyncClient) -> None:
    api = f"/api/{ORG}/projects/{PROJECT}"
    generated = await http.post(f"/api/{ORG}/projects/generator", json={
        "project_name": PROJECT, "complete": 5, "inbox": 2, "point_categories": 1, "box_detections": 1})
    assert generated.status_code == 200, generated.text
    unchanged_by(schemas.GeneratedProject, generated.json())
    model = (await http.post(f"{api}/onnx", files={"files": ("m.zip", model_zip())})).json()
    unchanged_by(LoopModel, model)
    assert model["host"] == "stub.test" and model["comment"] == "uploaded"
    assert (await http.post(f"{api}/detectors", json={"uuid": "d1", "name": "det", "model_format": "onnx"})).json() \
        == {"status": "OK"}
    store: Store = stub_fastapi(stub_app).state.store
    training = store.new_training(ORG, PROJECT, "trainer-1", {"model_variant": "small"})
    # what a trainer's reports leave behind: fields no model lists, an integer metric that must stay an integer
    store.update_training(training["id"], state="train", progress=0.5, states=["init", "train"],
                          metrics={"loss": 0.25, "epoch": 3}, timeline=[{"t": 1.5, "state": "train"}])

    project = (await http.get(f"{api}")).json()
    unchanged_by(schemas.ProjectInfo, project)
    same(project["categories"], store.categories(ORG, PROJECT))
    one = (await http.get(f"{api}/trainings/{training['number']}")).json()
    unchanged_by(schemas.Training, one)
    same(one, store.training(ORG, PROJECT, training["number"]))
    assert one["metrics_history"][0]["epoch"] == 3 and one["progress"] == 0.5
    listing = (await http.get(f"{api}/trainings")).json()
    unchanged_by(schemas.TrainingList, listing)
    same(listing["trainings"], store.trainings(ORG, PROJECT))
    detectors = (await http.get(f"{api}/detectors")).json()
    unchanged_by(schemas.DetectorList, detectors)
    same(detectors["detectors"], store.detectors(ORG, PROJECT))
    page = (await http.get(f"/ui/{ORG}/{PROJECT}")).json()
    unchanged_by(schemas.ProjectPage, page)
    same(page["trainings"], store.trainings(ORG, PROJECT))
    assert page["models"][0]["figures"] == {"onnx": {"map50": 0.5, "resolution": 32}}
    demo = (await http.get("/demo.json")).json()
    unchanged_by(LoopImage, demo)
    same(demo, demo_image(store, ORG, PROJECT))
    images = (await http.get(f"/ui/{ORG}/{PROJECT}/images", params={"state": "inbox"})).json()
    unchanged_by(schemas.ImagePage, images)
    same(images["images"], store.images(ORG, PROJECT, store.image_ids(ORG, PROJECT, "inbox")))
    unchanged_by(schemas.Received, (await http.get("/api/stats/received")).json())
    unchanged_by(schemas.ProjectSummaries, (await http.get("/ui/projects")).json())
    assert (await http.delete(api)).json() == {"status": "deleted"}
