"""The annotator's answers to the shared `/health`, `/ready`, `/metrics` and `/status` routes."""

from __future__ import annotations

from loop_shared.node_routes import NotReady, Ready, TaskHealthDep, node_router

from ..deps import HistoriesDep, ImagesDep, InputsDep, ReporterDep, SocketDep
from ..schemas import AnnotatorStatus, Bounds


def readiness(socket: SocketDep, health: TaskHealthDep) -> Ready | NotReady:
    """Ready while connected to the Loop (user inputs arrive over that connection); `failing` lists background
    tasks that keep failing."""
    failing = health.failing()
    if not socket.connected:
        return NotReady(reason="not connected to the Loop", failing=failing)
    return Ready(status=Ready.status_for(failing), failing=failing)


async def status(reporter: ReporterDep, socket: SocketDep, inputs: InputsDep, histories: HistoriesDep,
           images: ImagesDep) -> AnnotatorStatus:
    """The status the Loop receives, plus the connection, the plugin, and what the node holds against its bounds."""
    # async: it runs on the event loop, which is the only place the stores change
    histories.expire()
    bounds = Bounds(histories=len(histories), max_histories=histories.max_count, history_bytes=histories.total_bytes,
                    max_history_bytes=histories.max_bytes, dropped=dict(histories.dropped),
                    images_in_memory=len(images), image_bytes=images.memory_bytes)
    return AnnotatorStatus(**reporter.status().model_dump(), connected=socket.connected,
                           logic=type(reporter.logic).__name__, events=inputs.handled, bounds=bounds)


router = node_router(readiness, status=status, metrics_help="Prometheus metrics: user inputs by type and result, "
                     "their duration, annotations sent, histories and images held, and the health of the background "
                     "tasks.")
