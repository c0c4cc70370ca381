"""The annotator's status as the Loop receives it (`update_annotation_node`, every ~5 s and on each connect)."""

from __future__ import annotations

import asyncio
import logging
import time

from loop_shared.loop_socket import LoopSocket
from loop_shared.schemas import AnnotationNodeStatus
from loop_shared.tasks import TaskHealth, one_line

from .logic import AnnotatorLogic

log = logging.getLogger("annotator")


class StatusReporter:
    def __init__(self, node_id: str, name: str, logic: AnnotatorLogic, health: TaskHealth) -> None:
        self.node_id, self.name, self.logic, self.health = node_id, name, logic, health
        self.started = time.monotonic()
        self.socket: LoopSocket | None = None
        self.sent = 0

    def status(self) -> AnnotationNodeStatus:
        return AnnotationNodeStatus(id=self.node_id, name=self.name, state="online",
                                    uptime=int(time.monotonic() - self.started), errors=self.health.failing(),
                                    capabilities=list(self.logic.capabilities))

    async def send_status(self) -> bool:
        """Send `update_annotation_node`; returns whether the Loop acknowledged it with success."""
        if self.socket is None or not self.socket.connected:
            return False
        try:
            ack = await self.socket.call("update_annotation_node", self.status().model_dump(mode="json"), timeout=10)
        except Exception as e:  # socketio raises its own TimeoutError and BadNamespaceError types
            log.warning("could not send the annotator status: %s", one_line(e))
            return False
        if not (isinstance(ack, dict) and ack.get("success")):
            log.warning("the Loop did not take the annotator status: %r", ack)
            return False
        self.sent += 1
        return True

    async def run(self, interval: float) -> None:
        while True:
            if await self.send_status():
                self.health.ok("status")
            else:
                self.health.failed("status", "not connected to the Loop, or update_annotation_node failed")
            await asyncio.sleep(interval)
