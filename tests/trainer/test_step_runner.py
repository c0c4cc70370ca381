"""The step runner on its own: fake steps, a fake lifecycle, no processes, no Loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from loop_shared.backoff import Backoff
from loop_shared.errors import LoopUnavailableError
from loop_shared.schemas import TrainerState
from loop_shared.tasks import TaskHealth
from loop_trainer.record import STEPS, TrainingRecord
from loop_trainer.step_runner import StepRunner
from loop_trainer.steps import PermanentError, Step, StepContext
from tests.fake_loop import FakeLoop
from tests.trainer.steps_kit import context, record


class Trainee:
    def __init__(self, rec: TrainingRecord) -> None:
        self.record: TrainingRecord | None = rec
        self.working_state: TrainerState | None = None
        self.progress: float | None = None
        self.saved: list[TrainerState] = []
        self.sent: list[TrainerState | None] = []

    def save(self) -> None:
        assert self.record is not None
        self.saved.append(self.record.state)

    async def send_status(self) -> bool:
        self.sent.append(self.working_state)
        return True


def runner(tmp_path: Path, trainee: Trainee, steps: dict[str, Step]) -> tuple[StepRunner, list[float]]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)
        assert len(slept) < 10, "the runner retries for ever"

    def make_context(rec: TrainingRecord) -> StepContext:
        return context(tmp_path, FakeLoop(), rec)

    health = TaskHealth(CollectorRegistry(), "test_trainer")
    return StepRunner(trainee, steps, make_context, health, lambda: Backoff(base=1.0, cap=4.0), sleep), slept


def recording(done: list[str], name: str, fail: Callable[[], Exception | None] = lambda: None) -> Step:
    async def step(ctx: StepContext) -> None:
        error = fail()
        if error is not None:
            raise error
        done.append(name)
    return step


async def test_every_step_runs_once_in_order_and_each_state_is_persisted(tmp_path: Path) -> None:
    done: list[str] = []
    names = [name for _, name, _ in STEPS.values()]
    trainee = Trainee(record())
    run, slept = runner(tmp_path, trainee, {n: recording(done, n) for n in names})
    await run.run()
    assert done == names and slept == []
    assert trainee.saved == [after for _, _, after in STEPS.values()]
    assert trainee.sent == [during for during, _, _ in STEPS.values()]  # the working state, before each step
    assert trainee.record is not None and trainee.record.state == TrainerState.READY_FOR_CLEANUP


async def test_a_transient_failure_repeats_the_step_after_a_growing_backoff(tmp_path: Path) -> None:
    done: list[str] = []
    failures = [LoopUnavailableError("down"), RuntimeError("a defect"), None]
    names = [name for _, name, _ in STEPS.values()]
    steps = {n: recording(done, n) for n in names}
    steps["upload_model"] = recording(done, "upload_model", lambda: failures.pop(0))
    trainee = Trainee(record())
    run, slept = runner(tmp_path, trainee, steps)
    await run.run()
    assert done.count("upload_model") == 1 and done[-1] == "upload_detections"
    assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0
    assert trainee.record is not None and "upload_model" not in trainee.record.errors  # cleared by the success
    assert trainee.record.failed is None


async def test_a_permanent_error_ends_the_training_with_the_error(tmp_path: Path) -> None:
    done: list[str] = []
    names = [name for _, name, _ in STEPS.values()]
    steps = {n: recording(done, n) for n in names}
    steps["download_model"] = recording(done, "download_model", lambda: PermanentError("no such base model"))
    trainee = Trainee(record())
    run, slept = runner(tmp_path, trainee, steps)
    await run.run()
    assert done == ["prepare"] and slept == []
    rec = trainee.record
    assert rec is not None and rec.state == TrainerState.READY_FOR_CLEANUP
    assert rec.failed == "no such base model" and rec.errors == {"download_model": "no such base model"}


async def test_a_resumed_record_starts_at_its_persisted_state(tmp_path: Path) -> None:
    done: list[str] = []
    names = [name for _, name, _ in STEPS.values()]
    trainee = Trainee(record(state=TrainerState.TRAIN_MODEL_UPLOADED))
    run, _ = runner(tmp_path, trainee, {n: recording(done, n) for n in names})
    await run.run()
    assert done == ["detecting", "upload_detections"]
