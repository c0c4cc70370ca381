"""Drive the reference client `learning_loop_node` 0.27 against a running stub Loop.

Run by `make compat` inside a throw-away venv that has only the reference client installed; the stub Loop and
its project are prepared by `compat/run_check.sh`. Checks: login, image ids/data/files download, model download,
outbox upload of an image, and that a reference trainer node receives `begin_training` from POST .../trainings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import uvicorn
from learning_loop_node.data_classes import Context, ImageMetadata, PretrainedModel, TrainingStateData
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


async def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        await data_and_models(Path(tmp))
    await outbox_upload()
    await trainer_receives_begin_training()
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
