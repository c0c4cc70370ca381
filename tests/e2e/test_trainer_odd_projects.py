"""The reference trainer on the projects real users start with: tiny, odd, and with whatever hyperparameters
they typed. Each training ends with a model in the Loop, or fails at once with one clear error there; never a
crash loop. The stub Loop and the trainer node run as processes; what counts is what the trainer sent."""

from __future__ import annotations

import io
import json
import signal
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_reference_trainer.evaluate import NMS_IOU
from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import model_format_arrivals
from tests.conftest import ORG, node_env

SMALL = {"image_width": 160, "image_height": 120}
QUICK = {"resolution": 128, "epochs": 2, "eval_every": 1}

# project (generator body), hyperparameters, expected end ("done", or the words of the one error)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("the issue's crash: a dozen images, warm-up longer than the run",
     {"complete": 12}, {"resolution": 320, "epochs": 2, "batch_size": 4}, "done"),
    ("one image, no test split", {"complete": 1, "test_fraction": 0}, {**QUICK, "batch_size": 8}, "done"),
    ("one category, nonsense hyperparameters", {"complete": 8, "box_categories": 1},
     {"resolution": 100, "epochs": 0, "batch_size": 1000, "learning_rate": "fast", "warmup_epochs": 50,
      "colour": "blue", "eval_every": -3}, "done"),
    ("only point categories", {"complete": 10, "box_categories": 0, "point_categories": 1}, QUICK, "done"),
    ("some images without annotations", {"complete": 10, "empty_images": 4}, QUICK, "done"),
    ("no annotations at all", {"complete": 5, "empty_images": 5}, QUICK,
     "have no box, point or segmentation annotations"),
    ("only a segmentation category", {"complete": 5, "box_categories": 0, "segmentation_categories": 1}, QUICK,
     "done"),
]


def training(loop: httpx.Client, project: str, number: int = 1) -> dict[str, Any]:
    return dict(loop.get(f"/{ORG}/projects/{project}/trainings/{number}").json())


def finished(loop: httpx.Client, project: str, number: int = 1) -> dict[str, Any] | None:
    record = training(loop, project, number)
    return record if record["state"] in ("done", "failed") else None


def model_json(loop: httpx.Client, project: str, model_id: str) -> dict[str, Any]:
    package = loop.get(f"/{ORG}/projects/{project}/models/{model_id}/onnx/file")
    assert package.status_code == 200
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        return dict(json.loads(z.read("model.json")))


def measured_on(project: dict[str, Any]) -> str:
    """Where the reported figures come from: the test images, else the validation images (4 or more training
    images), else the training images."""
    if project.get("test_fraction", 0.2) > 0 and project["complete"] - project.get("empty_images", 0) >= 5:
        return "test"
    return "validation" if project["complete"] >= 4 else "training"


def idle(trainer: Service) -> bool:
    status = httpx.get(f"{trainer.url}/status").json()
    return bool(status["state"] == "idle" and status["training"] is None)


def crashes(trainer: Service) -> float:
    for line in httpx.get(f"{trainer.url}/metrics").text.splitlines():
        if line.startswith("loop_trainer_crashes_total"):
            return float(line.split()[-1])
    raise AssertionError("no loop_trainer_crashes_total in /metrics")


@pytest.fixture
def trainer(stub: Service, start_node: Callable[..., Service], tmp_path: Path) -> Service:
    data_dir = tmp_path / "trainer"
    node = start_node("loop-trainer", node_env(stub, data_dir, "odd0", LOOP_STATUS_INTERVAL="0.5",
                                               LOOP_RETRY_BASE="0.5"))
    wait_until(lambda: idle(node), 30, "an idle trainer")
    return node


def test_tiny_and_odd_projects_train_or_fail_at_once_with_one_clear_error(
        stub: Service, loop: httpx.Client, trainer: Service) -> None:
    # what the trainer tells the Loop about itself comes from its TrainerLogic
    status = httpx.get(f"{stub.url}/api/trainers").json()["trainers"][0]["status"]
    assert status["architecture"] == "loop-reference-detector"
    assert [m["name"] for m in status["pretrained_models"]] == ["small"]
    for name, project, hyper, expected in CASES:
        project_name = "odd0"  # the trainer serves one project: each case generates it anew
        body = {"project_name": project_name, **SMALL, **project}
        assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200, name
        before = model_format_arrivals(stub.url, ORG, project_name)
        started = loop.post(f"/{ORG}/projects/{project_name}/trainings", json={"hyperparameters": hyper})
        assert started.status_code == 200, (name, started.text)
        end = wait_until(lambda p=project_name: finished(loop, p), 240, f"the end of '{name}'")
        models = loop.get(f"/{ORG}/projects/{project_name}/models").json()["models"]
        # what the trainer sent, counted at the stub's receiving end (repeats included)
        arrived = {key: count - before.get(key, 0)
                   for key, count in model_format_arrivals(stub.url, ORG, project_name).items()
                   if count != before.get(key, 0)}
        if expected == "done":
            assert end["state"] == "done", (name, end.get("errors"), trainer.log()[-3000:])
            assert arrived == {(end["model_id"], "onnx"): 1}, (name, arrived)
            assert [m["id"] for m in models] == [end["model_id"]], name
            info = model_json(loop, project_name, end["model_id"])
            figures = info["figures"]
            assert 0.0 <= figures["map50"] <= 1.0 and figures["measured_on"] == measured_on(project), (name, figures)
            assert 0.0 < info["conf_threshold"] < 1.0 and info["iou_threshold"] == NMS_IOU
        else:
            assert end["state"] == "failed" and models == [] and arrived == {}, (name, end, arrived)
            errors = list((end.get("errors") or {}).values())
            assert len(errors) == 1 and expected in errors[0] and "\n" not in errors[0], (name, errors)
        wait_until(lambda: idle(trainer), 30, f"the trainer idle after '{name}'")
    assert crashes(trainer) == 0  # every case ended on the first try: no crash, no retry


def start_long_training(loop: httpx.Client) -> None:
    """A training on a fresh project that would run for long and validates only after 1,000 epochs."""
    body = {"project_name": "odd0", "complete": 20, **SMALL}
    assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200
    hyper = {"resolution": 128, "epochs": 500, "eval_every": 1000}
    assert loop.post(f"/{ORG}/projects/odd0/trainings", json={"hyperparameters": hyper}).status_code == 200


def test_stop_before_the_first_validation_uploads_the_model_as_it_is(
        stub: Service, loop: httpx.Client, trainer: Service) -> None:
    start_long_training(loop)
    # an epoch has ended (progress reported), no validation has happened (no metrics)
    wait_until(lambda: (training(loop, "odd0").get("progress") or 0) > 0, 180, "the first epoch")
    assert not training(loop, "odd0").get("metrics")
    assert loop.post(f"/{ORG}/projects/odd0/trainings/1/stop").status_code == 200
    end = wait_until(lambda: finished(loop, "odd0"), 180, "the end")
    assert end["state"] == "done" and end["model_id"], (end, trainer.log()[-3000:])
    assert model_format_arrivals(stub.url, ORG, "odd0") == {(end["model_id"], "onnx"): 1}  # sent once
    assert len(loop.get(f"/{ORG}/projects/odd0/models").json()["models"]) == 1
    assert (end.get("metrics") or {}).get("confusion_matrix"), end  # measured once at the end


def test_shutdown_during_training_checkpoints_and_exits_without_exporting(
        loop: httpx.Client, trainer: Service) -> None:
    start_long_training(loop)
    data_dir = Path(trainer.env["LOOP_DATA_DIR"])
    wait_until(lambda: list((data_dir / "training").glob("*/checkpoint.npz")), 180, "a checkpoint")
    assert trainer.proc is not None
    trainer.proc.send_signal(signal.SIGTERM)
    assert trainer.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn ends by re-raising the signal
    trainer.proc = None
    log = next((data_dir / "training").glob("*/training.log")).read_text()
    assert "shutdown requested: checkpoint kept" in log
    assert "export" not in log.lower() and not list((data_dir / "training").glob("*/output/model.onnx"))
    # the next start resumes the same training from its checkpoint
    trainer.start()
    wait_until(lambda: "resuming at epoch" in next((data_dir / "training").glob("*/training.log")).read_text(),
               120, "the training resumed")
    assert training(loop, "odd0")["state"] not in ("done", "failed")
