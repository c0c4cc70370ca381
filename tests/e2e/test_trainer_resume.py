"""The trainer killed (-9) in every lifecycle state resumes the same training, and each thing it sends to the Loop
arrives once: counted at the wire by a scripted Loop.

The Loop fails the request of each network step (503, or a refused acknowledgement), so the trainer sits in that
step retrying when it is killed; the training and detection child processes take a few seconds, so it is killed
while they run. After each kill the failure is lifted and the trainer restarted on the same data directory.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loop_testkit.hostile_loop import HostileLoop
from loop_testkit.processes import Service, free_port, wait_until

ORG, PROJECT = "zauberzeug", "resume"
API = f"/api/{ORG}/projects/{PROJECT}"
ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"complete": ["train-1", "train-2", "test-1"], "inbox": ["in-1", "in-2"], "annotate": ["an-1"]}
# (the state persisted before the step, the step's working state, the scripted failure that keeps it there)
PLAN = [("initialized", "data_downloading", "data"), ("data_downloaded", "train_model_downloading", "base"),
        ("train_model_downloaded", "running", None), ("training_finished", "confusion_matrix_syncing", "ack"),
        ("confusion_matrix_synced", "train_model_uploading", "upload"), ("train_model_uploaded", "detecting", None),
        ("detected", "detection_uploading", "detections")]


def package(path: Path, model_json: dict[str, Any] | None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights.bin", b"w")
        if model_json is not None:
            archive.writestr("model.json", json.dumps(model_json))
    return path


def scripted_loop(loop: HostileLoop, tmp_path: Path, failing: set[str]) -> None:
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()

    def data(request: Request, body: bytes) -> Response:
        if "data" in failing and request.query_params.get("state") == "complete":
            return JSONResponse({"detail": "scripted outage"}, 503)
        return JSONResponse({"image_ids": IMAGES.get(request.query_params.get("state", ""), [])})

    def image_data(request: Request, body: bytes) -> Response:
        ids = request.query_params.get("ids", "").split(",")
        sets = {"train-1": "train", "train-2": "train", "test-1": "test"}
        return JSONResponse({"images": [{"id": i, "set": sets[i], "width": 64, "height": 48, "box_annotations": [
            {"category_id": "c1", "x": 2, "y": 2, "width": 9, "height": 9}]} for i in ids if i in sets]})

    def failing_unless(name: str, answer: Response) -> Callable[[Request, bytes], Response]:
        return lambda request, body: JSONResponse({"detail": "scripted outage"}, 503) if name in failing else answer

    def detections(request: Request, body: bytes) -> Response:
        """The first batch (the inbox images) is taken; while failing, later batches are refused: the trainer is
        killed half-way through its detection upload."""
        ids = {item["image_id"] for item in json.loads(body)}
        if "detections" in failing and ids - {"in-1", "in-2"}:
            return JSONResponse({"detail": "scripted outage"}, 503)
        return JSONResponse({"stored": len(ids)})

    base = package(tmp_path / "base.zip", None)
    trained = package(tmp_path / "trained.zip", {"id": "model-1", "organization": ORG, "project": PROJECT,
                                                 "version": "1.0", "categories": [{"id": "c1", "name": "thing"}]})
    loop.routes.update({
        f"GET {API}/data": data, f"GET {API}/images": image_data,
        f"GET {API}/images/*/main": Response(jpeg, media_type="image/jpeg"),
        f"GET {API}/models/base-1/onnx/file": failing_unless("base", Response(base.read_bytes(),
                                                                               media_type="application/zip")),
        f"PUT {API}/trainings/1/models/latest/onnx/file": failing_unless("upload", JSONResponse({"id": "model-1"})),
        f"GET {API}/models/model-1/onnx/file": Response(trained.read_bytes(), media_type="application/zip"),
        f"POST {API}/detections": detections})


def attempts(loop: HostileLoop) -> dict[str, int]:
    """How often each scripted failure's request has arrived so far."""
    return {"data": sum("state=complete" in r.query for r in loop.requests(f"GET {API}/data")),
            "base": len(loop.requests(f"GET {API}/models/base-1/onnx/file")),
            "ack": sum(event == "update_training" for event, _ in loop.events),
            "upload": len(loop.requests(f"PUT {API}/trainings/1/models/latest/onnx/file")),
            "detections": len(loop.requests(f"POST {API}/detections"))}


def test_killed_in_every_state_the_training_resumes_and_sends_each_thing_once(
        start_node: Callable[..., Service], tmp_path: Path) -> None:
    failing = {name for _, _, name in PLAN if name}
    data_dir = tmp_path / "trainer"
    env = {"LOOP_USERNAME": "u", "LOOP_PASSWORD": "pw", "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": PROJECT,
           "LOOP_DATA_DIR": str(data_dir), "LOOP_NODE_PORT": str(free_port()), "PYTHONPATH": str(ROOT),
           "LOOP_TRAINER_LOGIC": "tests.e2e.plugins:SlowTrainer", "LOOP_STATUS_INTERVAL": "0.3",
           "LOOP_RETRY_BASE": "0.3", "LOOP_RETRY_CAP": "1", "LOOP_DETECTION_BATCH_SIZE": "2"}
    with HostileLoop() as loop:
        scripted_loop(loop, tmp_path, failing)
        loop.acks["update_training"] = {"success": False, "error_msg": "scripted outage"}
        trainer = start_node("loop-trainer", {**env, "LOOP_HOST": loop.host})
        loop.wait_connected()
        ack = loop.call("begin_training", ORG, PROJECT, {
            "categories": [{"id": "c1", "name": "thing", "type": "box"}], "hyperparameters": {"seconds": 3},
            "training_number": 1, "model_variant": "", "base_model_uuid": "base-1", "id": "t-1"})
        assert ack["success"] is True
        lifted: dict[str, int] = {}
        record = data_dir / "training" / "record.json"
        for persisted, working, failure in PLAN:
            mark = attempts(loop)

            def in_step(persisted: str = persisted, working: str = working, failure: str | None = failure,
                        mark: dict[str, int] = mark) -> bool:
                if not record.exists() or json.loads(record.read_text())["state"] != persisted:
                    return False
                if failure is not None:  # it failed twice here, so it is retrying this step when killed
                    return attempts(loop)[failure] >= mark[failure] + 2
                try:
                    if httpx.get(f"{trainer.url}/status", timeout=10).json()["state"] != working:
                        return False
                except httpx.HTTPError:  # busy (the machine is shared); ask again
                    return False
                # still in that step after the answer (a slow answer may outlast a step of a few seconds)
                return record.exists() and json.loads(record.read_text())["state"] == persisted

            wait_until(in_step, 60, f"the trainer in {working}")
            trainer.kill()
            if failure is not None:
                failing.discard(failure)
                if failure == "ack":
                    loop.acks.pop("update_training")
                lifted[failure] = attempts(loop)[failure]
            sids = list(loop.sids)
            trainer.start()
            wait_until(lambda sids=sids: loop.sids and loop.sids != sids, 30, "the restarted trainer connected")
        wait_until(lambda: not (data_dir / "training" / "record.json").exists(), 60, "the training cleaned up")
        after = {name: attempts(loop)[name] - count for name, count in lifted.items()}
        # once lifted, each non-idempotent thing went out exactly once
        assert (after["ack"], after["upload"]) == (1, 1), after
        taken: dict[str, int] = {}  # detections the Loop accepted, per image, over the whole training
        requests = loop.requests(f"POST {API}/detections")
        for number, batch in enumerate(requests):
            ids = [item["image_id"] for item in json.loads(batch.body)]
            if number >= lifted["detections"] or set(ids) <= {"in-1", "in-2"}:
                for image_id in ids:
                    taken[image_id] = taken.get(image_id, 0) + 1
        assert taken == dict.fromkeys([i for ids in IMAGES.values() for i in ids], 1), taken
        assert after["detections"] == 2  # the four images left, in batches of two
        log = trainer.log_path.read_text()
        assert [line.split("from state ")[1] for line in log.splitlines() if "resuming training t-1" in line] == \
            [persisted for persisted, _, _ in PLAN]
        assert not list((data_dir / "training").glob("*")) and list((data_dir / "images").rglob("*.jpg"))
