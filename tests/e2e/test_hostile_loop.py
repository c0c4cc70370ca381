"""Nodes against a hostile Loop: every Loop-supplied name that would reach a path is refused, per field.

Each test plants a victim directory beside the node's data directory, makes the Loop name it through `..`, and
asserts on what the node did: which requests it sent (recorded by the hostile Loop), what it wrote or deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loop_testkit.hostile_loop import HostileLoop
from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, free_port, wait_until

ORG, PROJECT = "zauberzeug", "proj"
API = f"/api/{ORG}/projects/{PROJECT}"
ROOT = Path(__file__).resolve().parents[2]


def env_for(loop: HostileLoop, data_dir: Path, **extra: str) -> dict[str, str]:
    return {"LOOP_HOST": loop.host, "LOOP_USERNAME": "u", "LOOP_PASSWORD": "pw", "LOOP_ORGANIZATION": ORG,
            "LOOP_PROJECT": PROJECT, "LOOP_DATA_DIR": str(data_dir), "LOOP_NODE_PORT": str(free_port()),
            "PYTHONPATH": str(ROOT), **extra}


def victim(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "precious.txt").write_text("keep me")
    return path


def intact(path: Path) -> bool:
    return (path / "precious.txt").read_text() == "keep me"


def model_zip(tmp_path: Path, model_id: str, version: str) -> Path:
    return grid_package(tmp_path / f"{model_id}.zip", extra={"id": model_id, "version": version,
                                                              "organization": ORG, "project": PROJECT})


@pytest.fixture
def hostile() -> Any:
    with HostileLoop() as loop:
        yield loop


@pytest.mark.parametrize("target", [{"model_uuid": "5fc2bd6c-0000-0000-0000-000000000001", "version": "../../escaped"},
                                    {"model_uuid": "/../victim-0000-0000", "version": "../../x"},
                                    {"model_uuid": "../../../victim", "version": "1.0"}])
def test_detector_ignores_a_deployment_target_that_names_a_path(
        hostile: HostileLoop, start_node: Callable[..., Service], tmp_path: Path, target: dict[str, str]) -> None:
    node_dir = tmp_path / "node"
    data_dir = node_dir / "data"
    victims = [victim(node_dir / "victim-0000-0000"), victim(node_dir / "victim"), victim(tmp_path / "victim")]
    hostile.json(f"GET {API}/deployment/target", target)
    hostile.file(f"GET {API}/models/*/onnx/file", model_zip(tmp_path, "m1", "1.0"))
    hostile.json(f"POST {API}/detectors", {"status": "OK"})
    detector = start_node("loop-detector", env_for(hostile, data_dir, LOOP_POLL_INTERVAL="0.2",
                                                   LOOP_STATUS_INTERVAL="0.3"))
    wait_until(lambda: len(hostile.requests(f"GET {API}/deployment/target")) >= 4, 20, "several polls")
    wait_until(lambda: [json.loads(s.body) for s in hostile.requests(f"POST {API}/detectors")
                        if "deployment_target" in json.loads(s.body)["errors"]], 20, "the error reported")
    assert hostile.requests("GET */file") == []  # never downloaded what the target names
    assert all(intact(v) for v in victims)
    assert sorted(p.name for p in node_dir.iterdir()) == ["data", "victim", "victim-0000-0000"]
    ready = httpx.get(f"{detector.url}/ready").json()
    assert ready["status"] == "not ready" and "unusable" in ready["failing"]["deployment"]
    statuses = [json.loads(s.body) for s in hostile.requests(f"POST {API}/detectors")]
    assert "unusable" in statuses[-1]["errors"]["deployment_target"]
    assert "\n" not in statuses[-1]["errors"]["deployment_target"]


def jpeg() -> bytes:
    return cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()


def begin(loop: HostileLoop, org: str, project: str, **details: Any) -> dict[str, Any]:
    body = {"categories": [{"id": "c1", "name": "thing", "type": "box"}], "hyperparameters": {},
            "training_number": 1, "model_variant": "", **details}
    ack: dict[str, Any] = loop.call("begin_training", org, project, body)
    return ack


def start_trainer(hostile: HostileLoop, start_node: Callable[..., Service], data_dir: Path) -> Service:
    env = env_for(hostile, data_dir, LOOP_TRAINER_LOGIC="tests.e2e.plugins:InstantTrainer",
                  LOOP_STATUS_INTERVAL="0.3", LOOP_RETRY_BASE="0.2")
    trainer = start_node("loop-trainer", env)
    hostile.wait_connected()
    return trainer


@pytest.mark.parametrize(("org", "project", "training_id", "field"), [
    ("../../..", PROJECT, None, "organization"), (ORG, "../victim", None, "project"),
    (ORG, PROJECT, "../../victim", "training id"), (ORG, PROJECT, "/tmp", "training id")])
def test_trainer_refuses_a_training_that_names_a_path(
        hostile: HostileLoop, start_node: Callable[..., Service], tmp_path: Path, org: str, project: str,
        training_id: str | None, field: str) -> None:
    node_dir = tmp_path / "node"
    victims = [victim(node_dir / "victim"), victim(tmp_path / "victim")]
    start_trainer(hostile, start_node, node_dir / "data")
    ack = begin(hostile, org, project, **({"id": training_id} if training_id else {}))
    assert ack["success"] is False and f"unusable {field}" in ack["error_msg"]
    wait_until(lambda: hostile.events, 10, "a status report")
    assert hostile.requests("GET /api/*/data") == [] and all(intact(v) for v in victims)


def test_trainer_leaves_out_image_ids_base_models_and_model_ids_that_name_paths(
        hostile: HostileLoop, start_node: Callable[..., Service], tmp_path: Path) -> None:
    node_dir = tmp_path / "node"
    victims = [victim(node_dir / "victim3"), victim(tmp_path / "victim3")]
    good = {"id": "good-1", "set": "train", "width": 64, "height": 48, "box_annotations": [
        {"category_id": "c1", "x": 1, "y": 1, "width": 10, "height": 10}], "point_annotations": []}
    hostile.json(f"GET {API}/data", {"image_ids": ["good-1", "../../../victim3/evil", "/victim3"]})

    def image_data(request: Request, body: bytes) -> Response:
        return JSONResponse({"images": [good] if request.query_params.get("ids") == "good-1" else []})

    hostile.routes[f"GET {API}/images"] = image_data
    hostile.routes[f"GET {API}/images/good-1/main"] = Response(jpeg(), media_type="image/jpeg")
    hostile.json(f"PUT {API}/trainings/1/models/latest/onnx/file", {"id": "../../victim3"})
    start_trainer(hostile, start_node, node_dir / "data")
    ack = begin(hostile, ORG, PROJECT, base_model_uuid="../../victim3")
    assert ack["success"] is True

    def failed_status() -> dict[str, Any] | None:
        for event, args in hostile.events:
            status = args[0] if event == "update_trainer" else {}
            if "upload_model" in (status.get("errors") or {}):
                return dict(status)
        return None

    status = wait_until(failed_status, 60, "the training to fail on the model id")
    assert "unusable model id" in status["errors"]["upload_model"]
    assert "\n" not in status["errors"]["upload_model"]
    paths = [s.path + "?" + s.query for s in hostile.seen]
    assert not [p for p in paths if "victim3" in p], paths
    assert [s.query for s in hostile.requests(f"GET {API}/images")] == ["ids=good-1"]
    assert all(intact(v) for v in victims)
    wait_until(lambda: not (node_dir / "data" / "training" / "record.json").exists(), 20, "the cleanup")
    assert sorted(p.name for p in (node_dir / "data" / "images" / ORG / PROJECT).iterdir()) == ["good-1.jpg"]


def test_converter_leaves_out_projects_models_and_images_that_name_paths(
        hostile: HostileLoop, start_node: Callable[..., Service], tmp_path: Path) -> None:
    node_dir = tmp_path / "node"
    victims = [victim(node_dir / "victim4"), victim(tmp_path / "victim4")]
    hostile.json("GET /api/projects", {"projects": [{"organization_id": "../..", "project_id": "victim4"},
                                                    {"organization_id": ORG, "project_id": PROJECT}]})
    hostile.json(f"GET {API}/models", {"models": [
        {"id": "../../victim4", "version": "1.0", "formats": ["onnx"]},
        {"id": "good", "version": "1.1", "formats": ["onnx"]}]})
    hostile.file(f"GET {API}/models/good/onnx/file", model_zip(tmp_path, "good", "1.1"))
    hostile.json(f"GET {API}/data", {"image_ids": ["../../victim4/x", "img-1"]})
    hostile.json(f"GET {API}/images", {"images": [{"id": "img-1", "set": "train"}]})
    hostile.routes[f"GET {API}/images/img-1/main"] = Response(jpeg(), media_type="image/jpeg")
    hostile.json(f"PUT {API}/models/good/onnx_int8/file", {"id": "good"})
    env = env_for(hostile, node_dir / "data", LOOP_POLL_INTERVAL="0.3")
    env.pop("LOOP_ORGANIZATION")
    env.pop("LOOP_PROJECT")
    converter = start_node("loop-converter", env)
    wait_until(lambda: hostile.requests(f"PUT {API}/models/good/onnx_int8/file"), 60, "the good model converted")
    paths = [s.path for s in hostile.seen]
    assert not [p for p in paths if "victim4" in p], paths
    assert [s.path for s in hostile.requests("GET */images/*/main")] == [f"{API}/images/img-1/main"]
    assert httpx.get(f"{converter.url}/status").json()["converted"] == 1
    assert all(intact(v) for v in victims)
