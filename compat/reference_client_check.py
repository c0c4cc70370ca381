"""Drive the reference client `learning_loop_node` 0.27 against a running stub Loop.

Run by `make compat` inside a throw-away venv that has only the reference client installed; the stub Loop and
its project are prepared by `compat/run_check.sh`. Checks: login, image ids/data/files download, model download,
outbox upload of an image, that a reference trainer node receives `begin_training` from POST .../trainings, and
that our detector's segmentation and classification answers (REST and Socket.IO, serving the test kit's ONNX
models) parse into the reference's ImageMetadata, SegmentationDetection and ClassificationDetection with dacite, as
the reference reads them, every field equal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import dacite
import httpx
import numpy as np
import socketio
import uvicorn
from learning_loop_node.data_classes import (
    ClassificationDetection,
    Context,
    ImageMetadata,
    PretrainedModel,
    SegmentationDetection,
    TrainingStateData,
)
from learning_loop_node.data_exchanger import DataExchanger
from learning_loop_node.detector.outbox import Outbox
from learning_loop_node.loop_communication import LoopCommunicator
from learning_loop_node.trainer.trainer_logic_generic import TrainerLogicGeneric
from learning_loop_node.trainer.trainer_node import TrainerNode

ORG, PROJECT = os.environ["LOOP_ORGANIZATION"], os.environ["LOOP_PROJECT"]
BASE = "http://" + os.environ["LOOP_HOST"] + "/api"
results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}", flush=True)


class BeginOnlyLogic(TrainerLogicGeneric):
    """Records begin_training; its training never finishes (the check only needs the hand-over)."""

    begun: ClassVar[list[dict[str, Any]]] = []

    @property
    def training_progress(self) -> float | None:
        return 0.0

    @property
    def detection_progress(self) -> float | None:
        return None

    @property
    def model_architecture(self) -> str | None:
        return "compat"

    @property
    def provided_pretrained_models(self) -> list[PretrainedModel]:
        return []

    async def begin_training(self, organization: str, project: str, details: dict) -> None:  # type: ignore[override]
        self.begun.append({"organization": organization, "project": project, **details})
        await super().begin_training(organization, project, details)

    async def _train(self) -> None:
        await asyncio.sleep(3600)

    async def _do_detections(self) -> None:
        return None

    def _get_new_best_training_state(self) -> TrainingStateData | None:
        return None

    def _on_metrics_published(self, training_state_data: TrainingStateData) -> None:
        return None

    async def _get_latest_model_files(self) -> dict[str, list[str]]:
        return {}

    async def _clear_training_data(self, training_folder: str) -> None:
        return None


async def data_and_models(tmp: Path) -> None:
    lc = LoopCommunicator()
    await lc.ensure_login()
    check("login", bool(lc.async_client.cookies.keys()))
    dx = DataExchanger(Context(organization=ORG, project=PROJECT), lc)
    ids = await dx.fetch_image_uuids("state=complete")
    check("fetch image ids", len(ids) > 0, f"{len(ids)} ids")
    data = await dx.download_images_data(ids)
    check("download image data", len(data) == len(ids) and all("box_annotations" in d for d in data))
    await dx.download_images(ids, str(tmp / "images"))
    check("download images", len(list((tmp / "images").glob("*.jpg"))) == len(ids))
    models = (await lc.get(f"/{ORG}/projects/{PROJECT}/models")).json()["models"]
    (tmp / "model").mkdir()
    files = await dx.download_model(str(tmp / "model"), Context(organization=ORG, project=PROJECT),
                                    models[0]["id"], "onnx")
    check("download model", any(f.endswith("model.json") for f in files), str(sorted(Path(f).name for f in files)))
    await lc.shutdown()


async def outbox_upload() -> None:
    outbox = Outbox()
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:20, 10:30] = 200
    await outbox.save(image, ImageMetadata(tags=["compat"], source="reference-client"))
    await outbox.upload()
    check("outbox upload", outbox.upload_counter == 1, f"upload_counter={outbox.upload_counter}")


async def trainer_receives_begin_training() -> None:
    logic = BeginOnlyLogic("onnx")
    node = TrainerNode("compat trainer", logic)
    port = int(os.environ.get("COMPAT_TRAINER_PORT", "8099"))
    server = uvicorn.Server(uvicorn.Config(node, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=BASE, timeout=30) as client:
            for _ in range(100):
                trainers = (await client.get("/trainers")).json()["trainers"]
                if any((t.get("status") or {}).get("state") == "idle" for t in trainers):
                    break
                await asyncio.sleep(0.2)
            response = await client.post(f"/{ORG}/projects/{PROJECT}/trainings", json={})
            check("POST trainings accepted", response.status_code == 200, response.text[:200])
            await asyncio.sleep(1)
        check("trainer received begin_training", len(logic.begun) == 1 and logic.begun[0]["project"] == PROJECT,
              str([(b["organization"], b["project"], b.get("training_number")) for b in logic.begun]))
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


# Our side of the category-types check runs in our own venv: it builds the test kit's segmenter and classifier
# (a red and a green object with masks; a colour classifier) and a picture for each, into the folder it is given.
OUR_PYTHON = os.environ.get("COMPAT_OUR_PYTHON", ".venv/bin/python")
OUR_DETECTOR = os.environ.get("COMPAT_OUR_DETECTOR", ".venv/bin/loop-detector")
BUILD_MODELS = """
import sys
from pathlib import Path
import cv2, numpy as np
from loop_testkit.onnx_classifier import build_classifier_onnx
from loop_testkit.onnx_segmenter import GREEN, RED, build_segmenter_onnx, candidate, write_package
out = Path(sys.argv[1])
blob = [{"id": "cat-blob", "name": "blob", "type": "segmentation"}]
segmenter = build_segmenter_onnx(128, [candidate(40, 40, 46, 46, [0.9], RED), candidate(96, 80, 40, 60, [0.8], GREEN)])
write_package(out / "segmenter.zip", segmenter, {"resolution": 128, "categories": blob})
scene = np.zeros((128, 128, 3), np.uint8)
cv2.circle(scene, (40, 40), 20, (0, 0, 255), -1)
scene[52:108, 78:114] = (0, 255, 0)
(out / "scene.jpg").write_bytes(cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
classes = [{"id": f"cat-{n}", "name": n, "type": "classification"} for n in ("red", "green", "blue")]
write_package(out / "classifier.zip", build_classifier_onnx(32, gain=10.0),
              {"categories": classes, "scores": "logits", "output_layout": "classification"})
(out / "brown.jpg").write_bytes(cv2.imencode(".jpg", np.full((40, 40, 3), (26, 77, 153), np.uint8))[1].tobytes())
"""
TYPES_PROJECT = "compat-types"


def same_fields(ours: dict[str, Any], parsed: Any) -> bool:
    """The reference data class holds exactly what our answer said: same fields, same values."""
    return dataclasses.asdict(parsed) == ours


def parse_answer(name: str, answer: dict[str, Any], kind: str) -> int:
    """Parse one detect answer as the reference does (dacite into ImageMetadata), then each `kind` detection
    strictly (no field left over) into the reference's class; check every field. Returns how many parsed."""
    cls = SegmentationDetection if kind == "segmentation" else ClassificationDetection
    ours = answer.get(f"{kind}_detections", [])
    try:
        metadata = dacite.from_dict(data_class=ImageMetadata, data=answer)
        parsed = [dacite.from_dict(data_class=cls, data=d, config=dacite.Config(strict=True)) for d in ours]
    except dacite.DaciteError as e:
        check(f"{name}: {kind} detections parse, fields equal", False, f"{type(e).__name__}: {e}")
        return 0
    in_metadata = getattr(metadata, f"{kind}_detections")
    check(f"{name}: {kind} detections parse, fields equal", bool(ours) and parsed == in_metadata and
          all(same_fields(o, p) for o, p in zip(ours, parsed, strict=True)),
          f"{len(parsed)} parsed: {[str(p) for p in parsed][:2]}")
    return len(parsed)


async def sio_detect(url: str, jpeg: bytes) -> dict[str, Any]:
    client = socketio.AsyncClient()
    await client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"])
    try:
        answer: dict[str, Any] = await client.call("detect", {"image": {"format": "jpeg", "bytes": jpeg},
                                                              "autoupload": "disabled"}, timeout=30)
        return answer
    finally:
        await client.disconnect()


async def deploy(client: httpx.AsyncClient, package: Path) -> str:
    response = await client.post(f"/{ORG}/projects/{TYPES_PROJECT}/onnx",
                                 files={"files": (package.name, package.read_bytes())})
    response.raise_for_status()
    version = str(response.json()["version"])
    (await client.put(f"/{ORG}/projects/{TYPES_PROJECT}/deployment/target", json={"version": version})
     ).raise_for_status()
    return version


async def serving(detector: str, version: str) -> bool:
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(300):
            try:
                model = (await client.get(f"{detector}/status")).json().get("model") or {}
                if model.get("version") == version and (await client.get(f"{detector}/ready")).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False


async def our_detector_answers_parse(tmp: Path) -> None:
    subprocess.run([OUR_PYTHON, "-c", BUILD_MODELS, str(tmp)], check=True)
    port = os.environ.get("COMPAT_TYPES_DETECTOR_PORT", "8095")
    detector = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=BASE, timeout=60) as client:
        (await client.post("/login", data={"username": os.environ["LOOP_USERNAME"],
                                           "password": os.environ["LOOP_PASSWORD"]})).raise_for_status()
        (await client.post(f"/{ORG}/projects/generator", json={"project_name": TYPES_PROJECT, "complete": 0,
                                                                "box_categories": 0})).raise_for_status()
        version = await deploy(client, tmp / "segmenter.zip")
        env = {**os.environ, "LOOP_PROJECT": TYPES_PROJECT, "LOOP_DATA_DIR": str(tmp / "detector"),
               "LOOP_NODE_PORT": port, "LOOP_POLL_INTERVAL": "0.3", "LOOP_LOG_LEVEL": "WARNING"}
        with (tmp / "detector.log").open("w") as log:
            process = subprocess.Popen([OUR_DETECTOR], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            check("our detector serves the segmenter", await serving(detector, version))
            scene = (tmp / "scene.jpg").read_bytes()
            async with httpx.AsyncClient(timeout=60) as plain:
                rest = (await plain.post(f"{detector}/detect", files={"file": ("scene.jpg", scene)},
                                         headers={"autoupload": "disabled"})).json()
                parse_answer("REST", rest, "segmentation")
                parse_answer("Socket.IO", await sio_detect(detector, scene), "segmentation")
                version = await deploy(client, tmp / "classifier.zip")
                check("our detector serves the classifier", await serving(detector, version))
                brown = (tmp / "brown.jpg").read_bytes()
                rest = (await plain.post(f"{detector}/detect", files={"file": ("brown.jpg", brown)},
                                         headers={"autoupload": "disabled"})).json()
                parse_answer("REST", rest, "classification")
                parse_answer("Socket.IO", await sio_detect(detector, brown), "classification")
        finally:
            process.terminate()
            process.wait(30)
    if any(not ok for name, ok, _ in results if "our detector" in name or "parse" in name):
        print((tmp / "detector.log").read_text()[-3000:], flush=True)


async def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        await data_and_models(Path(tmp))
    await outbox_upload()
    await trainer_receives_begin_training()
    with tempfile.TemporaryDirectory() as tmp:
        await our_detector_answers_parse(Path(tmp))
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
