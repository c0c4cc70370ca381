"""The stub Loop serves every call of the typed Loop API, from the same path constants and with the same models.

Each endpoint in `loop_api.paths.ALL` must be a route of the stub (method and path template), answer with the
endpoint's model, and work when called through the typed client against the stub app in-process (ASGI).
A call added to the API without a route in the stub, or without a call here, fails this test.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from loop_shared.errors import LoopNotFoundError
from loop_shared.loop_api import LoopApi, ProjectApi, paths
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.schemas import Detections, DetectorStatus
from loop_shared.settings import NodeSettings, load_settings
from tests.stub_loop.conftest import PASSWORD, USER, stub_fastapi

ORG, PROJECT = "zauberzeug", "parity"


@pytest.fixture
async def api(stub_app: Any) -> AsyncIterator[LoopApi]:
    settings = load_settings(NodeSettings, host="stub.test", username=USER, password=PASSWORD, organization=ORG,
                             project=PROJECT)
    client = LoopClient(settings, RetryPolicy(attempts=1), transport=httpx.ASGITransport(app=stub_app))
    yield LoopApi(client)
    await client.close()


def test_every_call_of_the_api_is_a_route_of_the_stub_with_the_same_model(stub_app: Any) -> None:
    # read from the OpenAPI schema: what the stub declares, whatever way FastAPI keeps its routes inside
    schema = stub_fastapi(stub_app).openapi()
    for endpoint in paths.ALL:
        operation = schema["paths"].get(paths.API_PREFIX + endpoint.template, {}).get(endpoint.method.lower())
        assert operation is not None, f"the stub does not serve {endpoint.method} {endpoint.template}"
        if endpoint.answer is not None:
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert answer.get("$ref", "").endswith(f"/{endpoint.answer.__name__}"), \
                f"{endpoint.method} {endpoint.template} answers {answer}, not {endpoint.answer.__name__}"


def jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((32, 32, 3), 127, np.uint8))
    assert ok
    return data.tobytes()


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", b"not really onnx")
    return buffer.getvalue()


async def seed(stub_app: Any, api: LoopApi) -> dict[str, Any]:
    """A generated project with images, one model in `onnx` (deployed) and a training to upload to."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stub_app), base_url="http://stub.test/api") as http:
        assert (await http.post("/login", data={"username": USER, "password": PASSWORD})).status_code == 200
        generated = await http.post(f"/{ORG}/projects/generator",
                                    json={"project_name": PROJECT, "complete": 3, "box_annotations": 1})
        assert generated.status_code == 200, generated.text
        model = (await http.post(f"/{ORG}/projects/{PROJECT}/onnx",
                                 files={"files": ("m.zip", model_zip())})).json()
        assert (await http.put(f"/{ORG}/projects/{PROJECT}/deployment/target",
                               json={"version": model["version"]})).status_code == 200
    store = stub_fastapi(stub_app).state.store
    training = store.new_training(ORG, PROJECT, "trainer-1", {})
    return {"model": model, "training": training}


async def test_every_call_works_through_the_typed_client_against_the_stub(
        stub_app: Any, api: LoopApi, tmp_path: Path) -> None:
    seeded = await seed(stub_app, api)
    project: ProjectApi = api.project(ORG, PROJECT)
    model_id = seeded["model"]["id"]
    files = tmp_path / "files"
    files.mkdir()
    (files / "model.onnx").write_bytes(b"not really onnx either")

    async def image_file() -> None:
        image_id = (await project.image_ids("complete"))[0]
        assert (await project.download_image(image_id, tmp_path / "images")).stat().st_size > 0

    async def image_upload() -> None:
        await project.upload_images([("files", ("image_x.json", b'{"tags": ["parity"]}', "application/json")),
                                     ("files", ("image_x.jpg", jpeg(), "image/jpeg"))])
        assert len(await project.image_ids("inbox")) == 1

    async def training_upload() -> None:
        stored = await project.upload_training_model(seeded["training"]["number"], "onnx",
                                                     [files / "model.onnx"], {"resolution": 32})
        assert stored.id and not stored.already_stored
        again = await project.upload_training_model(seeded["training"]["number"], "onnx",
                                                    [files / "model.onnx"], {"resolution": 32})
        assert again.id == stored.id and again.already_stored

    async def format_upload() -> None:
        stored = await project.upload_model_format(model_id, "onnx_int8", [files / "model.onnx"], {})
        assert stored.id == model_id and not stored.already_stored
        found = (await project.models()).find(model_id)
        assert found is not None and found.formats == ["onnx", "onnx_int8"]

    async def model_file() -> None:
        archive = await project.download_model(model_id, "onnx", tmp_path / "models", "m.zip")
        assert zipfile.is_zipfile(archive)
        with pytest.raises(LoopNotFoundError):
            await project.download_model(model_id, "no_such_format", tmp_path / "models", "x.zip")

    async def detections() -> None:
        image_id = (await project.image_ids("complete"))[0]
        await project.upload_detections([Detections(image_id=image_id)])

    async def deployment_target() -> None:
        target = await project.deployment_target()
        assert (target.model_uuid, target.version) == (model_id, seeded["model"]["version"])

    async def image_data() -> None:
        ids = await project.image_ids("complete")
        images = await project.images(ids)
        assert sorted(i.id for i in images) == sorted(ids) and all(i.set for i in images)

    async def projects() -> None:
        assert (ORG, PROJECT) in {(p.organization_id, p.project_id) for p in (await api.projects()).projects}

    calls: dict[paths.Endpoint, Callable[[], Awaitable[None]]] = {
        paths.STATUS: api.check_ready,
        paths.LOGIN: lambda: api.client.login(force=True),
        paths.PROJECTS: projects,
        paths.DEPLOYMENT_TARGET: deployment_target,
        paths.MODELS: lambda: project.models(),  # checked in format_upload
        paths.MODEL_FILE: model_file,
        paths.MODEL_FORMAT_UPLOAD: format_upload,
        paths.TRAINING_MODEL_UPLOAD: training_upload,
        paths.DETECTOR_STATUS: lambda: project.report_detector(DetectorStatus(uuid="d1", name="parity",
                                                                              model_format="onnx")),
        paths.IMAGE_UPLOAD: image_upload,
        paths.IMAGE_IDS: lambda: project.image_ids(),
        paths.IMAGE_DATA: image_data,
        paths.IMAGE_FILE: image_file,
        paths.DETECTIONS: detections,
    }
    assert set(calls) == set(paths.ALL), "every call of the API needs its parity check here"
    for call in calls.values():
        await call()
    store = stub_fastapi(stub_app).state.store
    assert store.detectors(ORG, PROJECT)[0]["uuid"] == "d1"
