"""The trainer and the stub Loop as processes: a whole training, kill and resume, stop, abort. What the trainer
uploaded is counted at the stub's wire (its receive counters count every upload request as it arrives, also the
ones its store refuses with 409 or would keep once), so a model sent twice fails a test whatever the stub kept."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import model_format_arrivals
from tests.conftest import ORG, node_env

PROJECT = "trainproj"
FAST = {"epochs": 3, "resolution": 128, "eval_every": 1}
ALL_STATES = ["data_downloading", "train_model_downloading", "running", "confusion_matrix_syncing",
              "train_model_uploading", "detecting", "detection_uploading"]




def training(loop: httpx.Client, number: int = 1) -> dict[str, Any]:
    return dict(loop.get(f"/{ORG}/projects/{PROJECT}/trainings/{number}").json())


def idle_trainer(stub: Service) -> bool:
    trainers = httpx.get(f"{stub.url}/api/trainers").json()["trainers"]
    return any((t["status"] or {}).get("state") == "idle" for t in trainers)


def children(data_dir: Path) -> list[str]:
    """Training child processes working below this test's data directory."""
    out = subprocess.run(["pgrep", "-f", f"loop_trainer.child .*{data_dir}"], capture_output=True, text=True)
    return out.stdout.split()


@pytest.fixture
def trainer_setup(stub: Service, loop: httpx.Client, start_node: Callable[..., Service],
                  tmp_path: Path) -> tuple[Service, Path]:
    body = {"project_name": PROJECT, "complete": 30, "inbox": 6, "annotate": 2, "box_categories": 2,
            "image_width": 160, "image_height": 120}
    assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200
    data_dir = tmp_path / "trainer"
    trainer = start_node("loop-trainer", node_env(stub, data_dir, PROJECT, LOOP_STATUS_INTERVAL="0.5",
                                                  LOOP_RETRY_BASE="0.5"))
    wait_until(lambda: idle_trainer(stub), 30, "an idle trainer")
    return trainer, data_dir


def start_training(loop: httpx.Client, **body: Any) -> dict[str, Any]:
    response = loop.post(f"/{ORG}/projects/{PROJECT}/trainings", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_training_goes_through_every_state_and_leaves_a_model_and_detections(
        stub: Service, loop: httpx.Client, trainer_setup: tuple[Service, Path]) -> None:
    trainer, data_dir = trainer_setup
    start_training(loop, hyperparameters=FAST)
    # a busy trainer refuses a second training
    assert loop.post(f"/{ORG}/projects/{PROJECT}/trainings", json={}).status_code == 409
    done = wait_until(lambda: training(loop)["state"] in ("done", "failed") and training(loop), 240, "the end")
    assert done["state"] == "done", (done, trainer.log())
    assert [s for s in done["states"] if s in ALL_STATES] == ALL_STATES
    assert done["metrics"]["confusion_matrix"] and done["metrics"]["train_image_count"] == 24
    models = loop.get(f"/{ORG}/projects/{PROJECT}/models", params={"format": "onnx"}).json()["models"]
    assert [m["id"] for m in models] == [done["model_id"]]
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(done["model_id"], "onnx"): 1}  # sent once
    inbox = loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "inbox"}).json()["image_ids"]
    images = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(inbox)}).json()["images"]
    assert all("detections_updated" in image for image in images)
    wait_until(lambda: idle_trainer(stub), 10, "the trainer idle again")
    assert children(data_dir) == []
    assert not (data_dir / "training" / "record.json").exists()


def test_killed_trainer_resumes_the_same_training(
        stub: Service, loop: httpx.Client, trainer_setup: tuple[Service, Path]) -> None:
    trainer, data_dir = trainer_setup
    start_training(loop, hyperparameters={**FAST, "epochs": 12})
    wait_until(lambda: (data_dir / "training").exists() and list((data_dir / "training").glob("*/checkpoint.npz")),
               180, "a first checkpoint")
    trainer.kill()  # kill -9: the child must die with it
    wait_until(lambda: children(data_dir) == [], 10, "no orphaned training process")
    assert (data_dir / "training" / "record.json").exists()
    trainer.start()

    def resumed_from_checkpoint() -> bool:
        logs = list((data_dir / "training").glob("*/training.log"))
        return bool(logs) and "resuming at epoch" in logs[0].read_text()

    wait_until(resumed_from_checkpoint, 120, "training resumed from its checkpoint")
    done = wait_until(lambda: training(loop)["state"] in ("done", "failed") and training(loop), 240, "the end")
    assert done["state"] == "done", trainer.log()
    assert "resuming training" in trainer.log()
    assert not list((data_dir / "training").glob("*"))  # cleaned up after the training
    # killed before its upload step, the resumed trainer sent its one model once
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(done["model_id"], "onnx"): 1}


def test_stop_uploads_the_best_model_and_abort_discards_it(
        stub: Service, loop: httpx.Client, trainer_setup: tuple[Service, Path]) -> None:
    trainer, data_dir = trainer_setup
    start_training(loop, hyperparameters={**FAST, "epochs": 200})
    wait_until(lambda: training(loop).get("metrics"), 180, "first metrics")
    assert loop.post(f"/{ORG}/projects/{PROJECT}/trainings/1/stop").status_code == 200
    done = wait_until(lambda: training(loop)["state"] in ("done", "failed") and training(loop), 180, "the end")
    assert done["state"] == "done" and done["model_id"]
    wait_until(lambda: idle_trainer(stub), 20, "the trainer idle again")

    start_training(loop, hyperparameters={**FAST, "epochs": 200})
    wait_until(lambda: training(loop, 2)["state"] == "running", 120, "the second training running")
    wait_until(lambda: list((data_dir / "training").glob("*/checkpoint.npz")), 120, "a checkpoint on disk")
    assert children(data_dir) != []
    assert loop.post(f"/{ORG}/projects/{PROJECT}/trainings/2/abort").status_code == 200
    # what the node did: its child process is gone, the training's files are discarded, it is idle again
    wait_until(lambda: children(data_dir) == [], 20, "the child process gone")
    status = httpx.get(f"{trainer.url}/status").json()
    assert status["state"] == "idle" and status["training"] is None
    assert list((data_dir / "training").iterdir()) == []  # checkpoint, logs and record discarded
    # the stopped training's model went out once; the aborted one sent none
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {(done["model_id"], "onnx"): 1}
