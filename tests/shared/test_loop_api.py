"""The typed Loop API against scripted answers (httpx.MockTransport): what goes on the wire, and which typed
error each kind of answer becomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loop_shared.clock import SYSTEM_CLOCK, Clock
from loop_shared.errors import (
    LoopConflictError,
    LoopInvalidError,
    LoopNotFoundError,
    LoopRateLimitedError,
    LoopRefusedError,
    LoopResponseError,
    LoopUnauthorisedError,
    LoopUnavailableError,
)
from loop_shared.loop_api import LoopApi, ProjectApi
from loop_shared.loop_client import LoopClient, RetryPolicy
from loop_shared.schemas import Detections, DetectorStatus
from loop_shared.settings import NodeSettings, load_settings
from loop_testkit.virtual_clock import VirtualClock

FAST = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.02)
Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """Answers every request with `answer(request)` (a login always succeeds) and records the requests."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/api/login":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
        return self.answer(request)

    def seen(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def api_for(wire: Wire, clock: Clock = SYSTEM_CLOCK) -> LoopApi:
    """On the real clock (waits of 10-20 ms between attempts) unless the test hands it a virtual one."""
    settings = load_settings(NodeSettings, host="loop.test", username="u", password="pw", organization="o",
                             project="p")
    return LoopApi(LoopClient(settings, retry=FAST, transport=httpx.MockTransport(wire), clock=clock))


def project_for(wire: Wire, clock: Clock = SYSTEM_CLOCK) -> ProjectApi:
    return api_for(wire, clock).project("o", "p")


async def test_calls_use_the_paths_params_and_bodies_of_the_reference_protocol(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/deployment/target"):
            return httpx.Response(200, json={"model_uuid": "m1", "version": "1.2", "extra": True})
        if path.endswith("/data"):
            return httpx.Response(200, json={"image_ids": ["a", "b"]})
        if request.method == "GET" and path.endswith("/images"):
            return httpx.Response(200, json={"images": [{"id": "a", "set": "train", "width": 4}]})
        if path.endswith("/file") and request.method == "PUT":
            return httpx.Response(200, json={"id": "m2"})
        if path.endswith("/file") or path.endswith("/main"):
            return httpx.Response(200, content=b"zip")
        return httpx.Response(200, json={})

    wire = Wire(answer)
    api = project_for(wire)
    target = await api.deployment_target()
    assert (target.model_uuid, target.version) == ("m1", "1.2")
    assert await api.image_ids("complete") == ["a", "b"]
    assert await api.image_ids() == ["a", "b"]
    images = await api.images(["a", "b"])
    assert images[0].as_dict() == {"id": "a", "set": "train", "width": 4}  # exactly what came, nothing added
    assert (await api.download_model("m1", "onnx", tmp_path, "m1.zip")).read_bytes() == b"zip"
    assert (await api.download_image("a", tmp_path)).name == "a.jpg"
    model_file = tmp_path / "model.onnx"
    model_file.write_bytes(b"onnx")
    stored = await api.upload_training_model(3, "onnx", [model_file], {"resolution": 320})
    assert stored.id == "m2" and not stored.already_stored
    await api.upload_model_format("m2", "onnx_int8", [model_file], {"format": "onnx_int8"})
    await api.upload_detections([Detections(image_id="a")])
    await api.report_detector(DetectorStatus(uuid="d", name="det", model_format="onnx"))
    await api.upload_images([("files", ("image_x.json", b"{}", "application/json"))])

    assert wire.seen() == [
        "POST /api/login", "GET /api/o/projects/p/deployment/target", "GET /api/o/projects/p/data",
        "GET /api/o/projects/p/data", "GET /api/o/projects/p/images", "GET /api/o/projects/p/models/m1/onnx/file",
        "GET /api/o/projects/p/images/a/main", "PUT /api/o/projects/p/trainings/3/models/latest/onnx/file",
        "PUT /api/o/projects/p/models/m2/onnx_int8/file", "POST /api/o/projects/p/detections",
        "POST /api/o/projects/p/detectors", "POST /api/o/projects/p/images"]
    by_path = {f"{r.method} {r.url.path}": r for r in wire.requests}
    assert [r.url.query for r in wire.requests if r.url.path.endswith("/data")] == [b"state=complete", b""]
    assert by_path["GET /api/o/projects/p/images"].url.params["ids"] == "a,b"
    upload = by_path["PUT /api/o/projects/p/trainings/3/models/latest/onnx/file"].content
    assert upload.count(b'name="files"') == 2 and b'filename="model.onnx"' in upload
    assert b'filename="model.json"' in upload and b'{"resolution": 320}' in upload
    detections = json.loads(by_path["POST /api/o/projects/p/detections"].content)
    assert detections[0]["image_id"] == "a"
    assert json.loads(by_path["POST /api/o/projects/p/detectors"].content)["uuid"] == "d"
    assert b'name="files"; filename="image_x.json"' in by_path["POST /api/o/projects/p/images"].content


async def test_429_after_the_retries_is_rate_limited_with_its_retry_after() -> None:
    clock = VirtualClock()
    wire = Wire(lambda request: httpx.Response(429, headers={"retry-after": "5"}))
    with pytest.raises(LoopRateLimitedError) as caught:
        await clock.run(project_for(wire, clock).models())
    assert caught.value.retry_after == 5.0 and caught.value.status_code == 429
    assert isinstance(caught.value, LoopUnavailableError)  # callers that only retry later need not know it
    assert wire.seen().count("GET /api/o/projects/p/models") == 3
    assert clock.slept == [5.0, 5.0]  # the two waits between the attempts honoured Retry-After


async def test_429_without_retry_after_says_none() -> None:
    with pytest.raises(LoopRateLimitedError) as caught:
        await project_for(Wire(lambda request: httpx.Response(429))).upload_images([])
    assert caught.value.retry_after is None


async def test_409_is_a_conflict_carrying_the_loops_detail() -> None:
    wire = Wire(lambda request: httpx.Response(409, json={"detail": {"id": "m9"}}))
    with pytest.raises(LoopConflictError) as caught:
        await project_for(wire).upload_detections([])
    assert caught.value.detail == {"id": "m9"} and isinstance(caught.value, LoopRefusedError)


async def test_409_to_a_model_upload_is_the_model_already_stored(tmp_path: Path) -> None:
    wire = Wire(lambda request: httpx.Response(409, json={"detail": {"id": "m9"}}))
    stored = await project_for(wire).upload_training_model(1, "onnx", [], {})
    assert stored.id == "m9" and stored.already_stored
    stored = await project_for(Wire(lambda request: httpx.Response(409, text="exists"))).upload_model_format(
        "m9", "onnx", [], {})
    assert stored.id is None and stored.already_stored


async def test_404_is_not_found_for_answers_and_downloads(tmp_path: Path) -> None:
    api = project_for(Wire(lambda request: httpx.Response(404, json={"detail": "no target"})))
    with pytest.raises(LoopNotFoundError, match="no target"):
        await api.deployment_target()
    with pytest.raises(LoopNotFoundError):
        await api.download_model("m", "onnx", tmp_path, "m.zip")
    assert list(tmp_path.iterdir()) == []


async def test_401_logs_in_again_once_then_is_unauthorised() -> None:
    wire = Wire(lambda request: httpx.Response(401))
    with pytest.raises(LoopUnauthorisedError):
        await project_for(wire).image_ids("complete")
    assert wire.seen() == ["POST /api/login", "GET /api/o/projects/p/data", "POST /api/login",
                           "GET /api/o/projects/p/data"]


async def test_a_401_healed_by_the_fresh_login_is_no_error() -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"image_ids": ["x"]})])
    assert await project_for(Wire(lambda request: next(answers))).image_ids() == ["x"]


@pytest.mark.parametrize(("status", "error"), [(503, LoopUnavailableError), (408, LoopUnavailableError),
                                               (422, LoopInvalidError), (413, LoopInvalidError),
                                               (400, LoopRefusedError), (302, LoopResponseError)])
async def test_every_other_answer_has_its_class(status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        await project_for(Wire(lambda request: httpx.Response(status))).upload_images([])
    assert getattr(caught.value, "status_code", None) == status


async def test_an_answer_that_is_not_the_model_is_a_response_error_not_a_refusal() -> None:
    api = project_for(Wire(lambda request: httpx.Response(200, json={"model_uuid": 5})))
    with pytest.raises(LoopResponseError, match="DeploymentTarget") as caught:
        await api.deployment_target()
    assert not isinstance(caught.value, LoopRefusedError)


async def test_lists_leave_out_items_they_cannot_use() -> None:
    answer = {"models": [{"id": "a", "version": "1.0", "formats": ["onnx"], "host": "h"}, {"id": 3}, "junk"]}
    models = await project_for(Wire(lambda request: httpx.Response(200, json=answer))).models()
    assert [m.id for m in models.models] == ["a"]
    found = models.find("a")
    assert found is not None and found.formats == ["onnx"] and found.model_extra == {"host": "h"}
    assert models.find("b") is None


async def test_check_ready_asks_status_once_without_login() -> None:
    wire = Wire(lambda request: httpx.Response(502))
    with pytest.raises(LoopUnavailableError):
        await api_for(wire).check_ready()
    wire = Wire(lambda request: httpx.Response(204))
    with pytest.raises(LoopUnavailableError, match="answered 204"):
        await api_for(wire).check_ready()
    assert wire.seen() == ["GET /api/status"]
