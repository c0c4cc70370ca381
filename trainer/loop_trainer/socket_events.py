"""What the Loop tells the trainer over Socket.IO: begin, stop or abort a training, restart the node.

Every handler answers the reference's acknowledgement shape (`SocketResponse`). Names from the Loop
(organization, project, training id, base model id) are checked by `loop_shared.names` before anything uses them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loop_shared.names import UnsafeNameError, is_safe_name, safe_name
from loop_shared.schemas import SocketResponse, TrainerState, TrainingDetails

from .logic import STOP_FILE
from .record import TrainingRecord

if TYPE_CHECKING:
    from .lifecycle import Handler, Lifecycle

log = logging.getLogger("trainer")


class SocketEvents:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    def handlers(self) -> dict[str, Handler]:
        return {"begin_training": self.on_begin_training, "stop_training": self.on_stop_training,
                "abort_training": self.on_abort_training, "restart": self.on_restart}

    async def on_begin_training(self, organization: str, project: str, details: Any) -> dict[str, Any]:
        lifecycle = self.lifecycle
        if lifecycle.record is not None:
            return SocketResponse.failure(f"training {lifecycle.record.id} is still active", payload="refused")
        try:
            parsed = TrainingDetails.model_validate(details)
        except ValidationError as e:
            return SocketResponse.failure(f"invalid training details: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")
        loop_id = (parsed.model_extra or {}).get("id")
        base_model = parsed.base_model_uuid
        try:
            safe_name(organization, "organization")
            safe_name(project, "project")
            training_id = safe_name(str(loop_id), "training id") if loop_id else os.urandom(8).hex()
        except UnsafeNameError as e:
            log.error("refused a training: %s", e)
            return SocketResponse.failure(str(e))
        if base_model and not is_safe_name(base_model):
            log.warning("the base model id %r is unusable; training from scratch", base_model[:80])
            base_model = None
        record = TrainingRecord(id=training_id, organization=organization,
                                project=project, training_number=parsed.training_number,
                                categories=parsed.categories, hyperparameters=parsed.hyperparameters,
                                model_variant=parsed.model_variant, base_model_uuid=base_model)
        shutil.rmtree(lifecycle.paths.root, ignore_errors=True)  # the previous training's leftovers (images stay)
        lifecycle.record = record
        lifecycle.save()
        log.info("begin training %d of %s/%s (%d categories)", record.training_number, organization, project,
                 len(record.categories))
        lifecycle.start()
        return SocketResponse.ok()

    async def on_stop_training(self, *args: Any) -> dict[str, Any]:
        lifecycle = self.lifecycle
        if lifecycle.record is not None and lifecycle.state == TrainerState.RUNNING:
            log.info("stop requested: finishing with the best model so far")
            lifecycle.record.stop_requested = True
            lifecycle.save()
            stop_file = lifecycle.paths.training_dir(lifecycle.record) / STOP_FILE
            stop_file.parent.mkdir(parents=True, exist_ok=True)
            stop_file.touch()  # seen by a child that starts (or restarts) after this moment
            if lifecycle.child is not None:
                lifecycle.child.request_stop()
        return SocketResponse.ok()

    async def on_abort_training(self, *args: Any) -> dict[str, Any]:
        if self.lifecycle.record is not None:
            log.info("abort requested: discarding training %s", self.lifecycle.record.id)
            await self.lifecycle.abort()
        return SocketResponse.ok()

    async def on_restart(self, *args: Any) -> None:
        log.info("the Loop asked for a restart; shutting down (the training resumes on the next start)")
        os.kill(os.getpid(), signal.SIGTERM)
