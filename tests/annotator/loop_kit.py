"""A test-side Loop for the annotator's process tests: the hostile Loop of the test kit (a real HTTP and
Socket.IO server in a thread of the test) serving generated images, recording the connection headers and the
events the annotator sends, and sending it user inputs like the Loop forwards them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loop_testkit.hostile_loop import HostileLoop
from loop_testkit.processes import free_port
from loop_testkit.scenes import encode_jpeg
from tests.annotator.scene_kit import ORG, PROJECT
from tests.conftest import PASSWORD, USERNAME

NODE_EVENTS = ("update_annotation_node", "update_segmentation_annotation")


class AnnotatorLoop:
    def __init__(self, jpegs: dict[str, bytes], port: int | None = None) -> None:
        self.jpegs = jpegs
        self.loop = HostileLoop(port=port or free_port())
        self.headers: list[dict[str, str]] = []
        self.loop.sio.on("connect", self._on_connect)
        for event in NODE_EVENTS:
            self.loop.sio.on(event, self.loop._ack(event))
        self.loop.routes[f"GET /api/{ORG}/projects/{PROJECT}/images/*/main"] = self._image

    @property
    def host(self) -> str:
        return self.loop.host

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self.headers.append({key: environ.get(f"HTTP_{key.upper()}", "") for key in
                             ("organization", "project", "nodetype", "cookie")})
        self.loop.sids.append(sid)

    def _image(self, request: Request, body: bytes) -> Response:
        image_id = request.url.path.split("/")[-2]
        if image_id not in self.jpegs:
            return JSONResponse({"detail": "no such image"}, 404)
        return Response(self.jpegs[image_id], media_type="image/jpeg")

    def events(self, name: str) -> list[tuple[Any, ...]]:
        return [args for event, args in list(self.loop.events) if event == name]

    def call(self, event: str, *args: Any) -> Any:
        return self.loop.call(event, *args, timeout=60)

    def call_many(self, calls: list[tuple[str, tuple[Any, ...]]], timeout: float = 600) -> list[Any]:
        """Send the calls all at once (each as the Loop would, one event with its arguments); the acks in order."""
        assert self.loop._loop is not None and self.loop.sids, "no node connected"
        sid = self.loop.sids[0]

        async def send() -> list[Any]:
            return list(await asyncio.gather(*(self.loop.sio.call(event, args if len(args) != 1 else args[0], to=sid,
                                                                  timeout=timeout) for event, args in calls)))
        return asyncio.run_coroutine_threadsafe(send(), self.loop._loop).result(timeout + 10)

    @contextmanager
    def running(self) -> Iterator[AnnotatorLoop]:
        with self.loop:
            yield self


def annotator_env(host: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    return {"LOOP_HOST": host, "LOOP_USERNAME": USERNAME, "LOOP_PASSWORD": PASSWORD, "LOOP_ORGANIZATION": ORG,
            "LOOP_PROJECT": PROJECT, "LOOP_DATA_DIR": str(data_dir), "LOOP_NODE_PORT": str(port),
            "LOOP_STATUS_INTERVAL": "0.5", **extra}


def jpegs_of(images: dict[str, Any]) -> dict[str, bytes]:
    return {name: encode_jpeg(image, quality=95) for name, image in images.items()}
