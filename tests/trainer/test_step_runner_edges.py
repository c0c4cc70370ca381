"""The step runner's bookkeeping: each step gets the context of the record it runs for, a failure's one line is
saved and reported to the task health, and the working state is cleared between steps."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from loop_shared.backoff import Backoff
from loop_shared.schemas import TrainerState
from loop_shared.tasks import TaskHealth
from loop_trainer.record import STEPS, TrainingRecord
from loop_trainer.runner import ChildFailed
from loop_trainer.step_runner import TASK, StepRunner
from loop_trainer.steps import Step, StepContext
from tests.fake_loop import FakeLoop
from tests.trainer.steps_kit import context, record


class Trainee:
    def __init__(self, rec: TrainingRecord) -> None:
        self.record: TrainingRecord | None = rec
        self.working_state: TrainerState | None = None
        self.progress: float | None = None
        self.saved_errors: list[dict[str, str]] = []
        self.sent: list[TrainerState | None] = []

    def save(self) -> None:
        assert self.record is not None
        self.saved_errors.append(dict(self.record.errors))

    async def send_status(self) -> bool:
        self.sent.append(self.working_state)
        return True


async def test_steps_get_their_records_context_and_failures_are_saved_and_reported(tmp_path: Path) -> None:
    rec = record(state=TrainerState.CONFUSION_MATRIX_SYNCED)  # two steps left: upload_model, then detecting
    trainee = Trainee(rec)
    health = TaskHealth(CollectorRegistry(), "test_trainer")
    failures: list[Exception] = [ChildFailed("the child died of MemoryError"), RuntimeError("a\n   defect")]
    seen: list[tuple[str, TrainingRecord]] = []
    health_at_call: list[tuple[int, str | None]] = []

    def step(name: str) -> Step:
        async def run(ctx: StepContext) -> None:
            seen.append((name, ctx.record))
            state = health.tasks.get(TASK)
            health_at_call.append((state.consecutive_failures, state.last_error) if state else (0, None))
            if name == "upload_model" and failures:
                raise failures.pop(0)
        return run

    async def sleep(delay: float) -> None:
        assert len(trainee.saved_errors) < 10, "the runner retries for ever"

    runner = StepRunner(trainee, {name: step(name) for _, name, _ in STEPS.values()},
                        lambda r: context(tmp_path, FakeLoop(), r), health, lambda: Backoff(base=1.0, cap=4.0), sleep)
    await runner.run()
    assert [name for name, _ in seen] == ["upload_model"] * 3 + ["detecting", "upload_detections"]
    assert all(r is rec for _, r in seen)  # the record itself, not a fresh one
    # a crashed child's message is already one line and says what it died of; others become `Type: message`
    assert trainee.saved_errors[:2] == [{"upload_model": "the child died of MemoryError"},
                                        {"upload_model": "RuntimeError: a defect"}]
    assert health_at_call[:3] == [(0, None), (1, "the child died of MemoryError"), (2, "RuntimeError: a defect")]
    assert health.tasks[TASK].consecutive_failures == 0  # the success after them counts
    assert health_at_call[3][0] == 0
    # after a failure and after each step the working state is cleared (None, which the status reports as the
    # record's own state)
    assert trainee.sent[:2] == [TrainerState.TRAIN_MODEL_UPLOADING, None]
    assert trainee.working_state is None
