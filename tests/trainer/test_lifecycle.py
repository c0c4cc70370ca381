"""The trainer's lifecycle and its Socket.IO events in one process: a fake Loop API, the plugin run in-process.

The process tests in tests/e2e run the same with a real child process, the stub Loop and Socket.IO.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from loop_shared.schemas import TrainerState
from loop_shared.tasks import TaskHealth
from loop_trainer.lifecycle import Lifecycle
from loop_trainer.record import TrainingRecord
from loop_trainer.socket_events import SocketEvents
from tests.e2e.plugins import InstantTrainer
from tests.fake_loop import FakeLoop
from tests.trainer.steps_kit import ORG, PROJECT, InProcessChild, model_zip, project_with_images, settings

DETAILS: dict[str, Any] = {"categories": [{"id": "c1", "name": "cat", "type": "box"}], "hyperparameters": {},
                           "training_number": 3, "model_variant": "", "id": "train-3"}


class FakeSocket:
    """Acknowledges every call as the Loop does and keeps what was sent."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def call(self, event: str, *args: Any, timeout: float = 30.0) -> Any:
        self.sent.append((event, args))
        return {"success": True}


def lifecycle(tmp_path: Path, loop: FakeLoop) -> tuple[Lifecycle, SocketEvents, FakeSocket]:
    child = InProcessChild(InstantTrainer())
    node = Lifecycle(settings(tmp_path), loop, InstantTrainer(), "node-1", "trainer", TaskHealth(CollectorRegistry(),
                     "test_lifecycle"), run_child=child)
    child.on_report = node.on_report
    socket = FakeSocket()
    node.socket = socket  # type: ignore[assignment]
    return node, SocketEvents(node), socket


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def loop_with_project() -> FakeLoop:
    loop = FakeLoop()
    project_with_images(loop, {"a": "train", "b": "test"})
    loop.project(ORG, PROJECT).packages[("model-3", "onnx")] = model_zip(id="model-3")
    return loop


async def test_a_training_goes_through_every_step_and_is_cleaned_up(tmp_path: Path) -> None:
    loop = loop_with_project()
    node, events, socket = lifecycle(tmp_path, loop)
    assert (await events.on_begin_training(ORG, PROJECT, DETAILS))["success"]
    await until(lambda: node.record is None)
    project = loop.project(ORG, PROJECT)
    assert [(u["number"], u["format"]) for u in project.model_uploads] == [(3, "onnx")]
    assert sorted(d.image_id or "" for d in project.detections) == ["a", "b"]
    states = [args[0]["state"] for event, args in socket.sent if event == "update_trainer"]
    assert states[:2] == ["data_downloading", "train_model_downloading"]
    assert "detection_uploading" in states and states[-1] == "idle"
    events = [event if event == "update_training" else args[0]["state"] for event, args in socket.sent]
    # the best metrics went out once, during training; the sync step after it found nothing left to send
    assert events.count("update_training") == 1
    assert events.index("update_training") < events.index("confusion_matrix_syncing")
    assert node.history.last is not None and node.history.last["result"] == "done"
    assert not node.paths.record_file.exists() and node.state == TrainerState.IDLE


async def test_a_second_begin_is_refused_and_bad_details_or_names_are_rejected(tmp_path: Path) -> None:
    node, events, _ = lifecycle(tmp_path, FakeLoop())
    assert "invalid training details" in str((await events.on_begin_training(ORG, PROJECT, {}))["error_msg"])
    assert not (await events.on_begin_training("../x", PROJECT, DETAILS))["success"]
    node.record = TrainingRecord(id="busy", organization=ORG, project=PROJECT, training_number=1, categories=[],
                                 hyperparameters={})
    answer = await events.on_begin_training(ORG, PROJECT, DETAILS)
    assert not answer["success"] and answer["payload"] == "refused"


async def test_a_failed_training_is_cleaned_up_with_its_error(tmp_path: Path) -> None:
    loop = FakeLoop()  # no images: prepare fails for good
    node, events, _ = lifecycle(tmp_path, loop)
    await events.on_begin_training(ORG, PROJECT, DETAILS)
    await until(lambda: node.record is None)
    assert node.history.last is not None and "no usable training images" in str(node.history.last)


async def test_abort_discards_the_training_and_stop_leaves_a_stop_file(tmp_path: Path) -> None:
    loop = loop_with_project()
    node, events, _ = lifecycle(tmp_path, loop)
    gate = asyncio.Event()

    async def waiting_child(args: list[str], log_path: Path, progress_path: Path) -> None:
        await gate.wait()

    node._run_child = waiting_child  # a training that runs until the test lets it go
    await events.on_begin_training(ORG, PROJECT, DETAILS)
    await until(lambda: node.state == TrainerState.RUNNING)
    record = node.record
    assert record is not None
    await events.on_stop_training()
    assert record.stop_requested and (node.paths.training_dir(record) / "stop_requested").exists()
    await events.on_abort_training()
    assert node.record is None and not node.paths.training_dir(record).exists()
    assert node.history.last is not None and node.history.last["result"] == "aborted"
    assert loop.project(ORG, PROJECT).model_uploads == []
