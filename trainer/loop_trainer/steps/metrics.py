"""Step `sync_confusion_matrix`, and the publisher of a training's best metrics (`update_training` over Socket.IO).

During training every new best is published at once, quietly (a failure waits for this step); after training
the step makes sure the Loop has the best one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from loop_shared.errors import LoopUnavailableError
from loop_shared.schemas import TrainingOut

from ..record import TrainingRecord
from .context import StepContext


class Socket(Protocol):
    """What the publisher needs of loop_shared.loop_socket.LoopSocket."""

    @property
    def connected(self) -> bool: ...

    async def call(self, event: str, *args: Any, timeout: float = 30.0) -> Any: ...


class MetricsPublisher:
    def __init__(self, node_id: str, name: str, socket: Callable[[], Socket | None], save: Callable[[], None]) -> None:
        self.node_id, self.name, self._socket, self._save = node_id, name, socket, save

    async def publish(self, record: TrainingRecord) -> None:
        """Send the best metrics; LoopUnavailableError when not connected or the Loop did not acknowledge."""
        metrics = record.best_metrics
        if metrics is None:
            return
        socket = self._socket()
        if socket is None or not socket.connected:
            raise LoopUnavailableError("not connected to the Loop")
        out = TrainingOut(trainer_id=self.node_id, trainer_name=self.name,
                          confusion_matrix=metrics["confusion_matrix"], train_image_count=record.train_image_count,
                          test_image_count=record.test_image_count, hyperparameters=record.hyperparameters,
                          best_epoch=metrics.get("epoch"))
        ack = await socket.call("update_training", record.organization, record.project, out.model_dump(mode="json"),
                                timeout=60)
        if not isinstance(ack, dict) or not ack.get("success"):
            raise LoopUnavailableError(f"the Loop did not accept the metrics: {ack!r}")
        record.synced_epoch = metrics.get("epoch")
        self._save()


async def run(ctx: StepContext) -> None:
    record = ctx.record
    if record.best_metrics is None or record.synced_epoch == record.best_metrics.get("epoch"):
        return
    await ctx.publish_metrics(record)
