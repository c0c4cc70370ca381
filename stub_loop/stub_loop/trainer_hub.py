"""The stub Loop's Socket.IO side: who is connected (the one registry of connections, trainers, annotation nodes and
annotation pages alike), what trainers report, and sending them trainings. Annotation nodes: annotator_hub.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import socketio
from pydantic import ValidationError

from loop_shared.schemas import TrainingOut, TrainingStatus

from .deps import SESSION_COOKIE
from .store import Store

log = logging.getLogger("stub.sio")
FINAL_STATES = ("done", "failed", "aborted")
TIMELINE_POINTS = 2000


@dataclass
class Connection:
    sid: str
    node_type: str
    organization: str
    project: str
    status: dict[str, Any] | None = None

    @property
    def trainer_id(self) -> str | None:
        return self.status.get("id") if self.status else None

    def serves(self, org: str, project: str) -> bool:
        return (not self.organization or self.organization == org) and (not self.project or self.project == project)


class NoTrainerError(Exception):
    """No idle trainer of the project is connected."""


class TrainerHub:
    def __init__(self, store: Store, sio: socketio.AsyncServer) -> None:
        self.store = store
        self.sio = sio
        self.connections: dict[str, Connection] = {}
        # called with the sid of every connection that ends (the annotator hub logs a page's session out)
        self.disconnect_listeners: list[Callable[[str], Awaitable[None]]] = []
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on("update_trainer", self.on_update_trainer)
        sio.on("update_training", self.on_update_training)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[SESSION_COOKIE].value if SESSION_COOKIE in cookie else ""
        if not token or not await asyncio.to_thread(self.store.session_valid, token):
            log.info("refused a Socket.IO connection without a valid session cookie")
            raise ConnectionRefusedError("not logged in: POST /api/login first and send its cookie")
        conn = Connection(sid, environ.get("HTTP_NODETYPE", ""), environ.get("HTTP_ORGANIZATION", ""),
                          environ.get("HTTP_PROJECT", ""))
        self.connections[sid] = conn
        log.info("%s connected (sid %s, %s/%s)", conn.node_type or "node", sid, conn.organization or "*",
                 conn.project or "*")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn:
            log.info("%s disconnected (sid %s)", conn.node_type or "node", sid)
        for listener in self.disconnect_listeners:
            await listener(sid)

    async def on_update_trainer(self, sid: str, data: Any) -> dict[str, Any]:
        try:
            status = TrainingStatus.model_validate(data)
        except ValidationError as e:
            return {"success": False, "error_msg": f"invalid trainer status: {e}", "payload": None}
        conn = self.connections.get(sid)
        if conn is not None:
            conn.status = status.model_dump(mode="json")
        await asyncio.to_thread(self._record_trainer_state, status)
        return {"success": True, "error_msg": None, "payload": None}

    def _record_trainer_state(self, status: TrainingStatus) -> None:
        training = self.store.active_training_of(status.id)
        if training is None:
            return
        state = status.state or "idle"
        if state in ("idle", "blocked"):
            if training.get("seen_active"):
                final = "done" if training["model_id"] else "failed"
                self.store.update_training(training["id"], state=final, progress=None)
                log.info("training %d of %s/%s ended: %s", training["number"], training["organization"],
                         training["project"], final)
            return
        if status.context and (status.context.organization, status.context.project) != \
                (training["organization"], training["project"]):
            return
        history = training.get("states") or []
        if not history or history[-1] != state:
            history = [*history, state]
        # for the page: when each state began and how progress went (bounded; statuses come every few seconds)
        timeline = [*(training.get("timeline") or []), {"t": time.time(), "state": state, "progress": status.progress}]
        self.store.update_training(training["id"], state=state, seen_active=True, progress=status.progress,
                                   errors=status.errors or {}, status=status.model_dump(mode="json"), states=history,
                                   timeline=timeline[-TIMELINE_POINTS:])

    async def on_update_training(self, sid: str, *args: Any) -> dict[str, Any]:
        data = args[0] if len(args) == 1 else args
        if not isinstance(data, (list, tuple)) or len(data) != 3:
            return {"success": False, "error_msg": "update_training takes (organization, project, training)",
                    "payload": None}
        try:
            out = TrainingOut.model_validate(data[2])
        except ValidationError as e:
            return {"success": False, "error_msg": f"invalid training metrics: {e}", "payload": None}
        training = await asyncio.to_thread(self.store.active_training_of, out.trainer_id)
        if training is not None:
            await asyncio.to_thread(self.store.update_training, training["id"], metrics=out.model_dump(mode="json"))
        return {"success": True, "error_msg": None, "payload": None}

    def trainers(self) -> list[dict[str, Any]]:
        return [{"sid": c.sid, "organization": c.organization, "project": c.project, "status": c.status}
                for c in self.connections.values() if c.node_type == "trainer"]

    def _pick_trainer(self, org: str, project: str, trainer_id: str | None) -> Connection:
        candidates = [c for c in self.connections.values() if c.node_type == "trainer" and c.serves(org, project)]
        if trainer_id:
            candidates = [c for c in candidates if c.trainer_id == trainer_id]
        idle = [c for c in candidates if (c.status or {}).get("state") in (None, "idle")]
        if not idle:
            raise NoTrainerError(f"no idle trainer for {org}/{project} is connected "
                                 f"({len(candidates)} trainer(s) connected, none idle)")
        return idle[0]

    async def begin_training(self, org: str, project: str, request: dict[str, Any]) -> dict[str, Any]:
        """Create the training record and send `begin_training` to an idle trainer; returns the record."""
        conn = self._pick_trainer(org, project, request.get("trainer_id"))
        categories = await asyncio.to_thread(self.store.categories, org, project)
        details = {"categories": categories, "hyperparameters": request.get("hyperparameters") or {},
                   "model_variant": request.get("model_variant") or "",
                   "base_model_uuid": request.get("base_model_uuid")}
        training = await asyncio.to_thread(self.store.new_training, org, project, conn.trainer_id or conn.sid, details)
        try:
            ack = await self.sio.call("begin_training", (org, project, training["details"]), to=conn.sid, timeout=30)
        except (TimeoutError, socketio.exceptions.TimeoutError) as e:
            ack = {"success": False, "error_msg": f"trainer did not answer: {e}"}
        if not isinstance(ack, dict) or not ack.get("success"):
            error = ack.get("error_msg") if isinstance(ack, dict) else f"unexpected answer {ack!r}"
            await asyncio.to_thread(self.store.update_training, training["id"], state="failed", error=error)
            raise NoTrainerError(f"the trainer refused training {training['number']}: {error}")
        await asyncio.to_thread(self.store.update_training, training["id"], state="initialized")
        log.info("training %d of %s/%s sent to trainer %s", training["number"], org, project, conn.trainer_id)
        return await asyncio.to_thread(self.store.training, org, project, training["number"])

    async def send_to_trainer(self, training: dict[str, Any], event: str) -> Any:
        for conn in self.connections.values():
            if conn.trainer_id == training["trainer_id"]:
                return await self.sio.call(event, to=conn.sid, timeout=120)
        raise NoTrainerError(f"trainer {training['trainer_id']} of training {training['number']} is not connected")
