"""The routes every node serves alike, written once: `/health`, `/ready`, `/metrics` and `/status`.

A node mounts `node_router(readiness, registry, status)`. What differs between nodes comes in as FastAPI
dependencies, so each takes the node's own `deps.py` aliases (`app.state`) like any route:

- `readiness` answers a `Ready` (200) or a `NotReady` (503), or a subclass of either carrying the node's own
  fields (the detector adds the model it serves);
- `status` (optional) answers the node's status model for `/status`;
- `registry` gives the Prometheus registry `/metrics` renders (by default `app.state.registry`).

The answer models are read from the dependencies' return annotations, so `/docs` shows each node's own models,
and each dependency's docstring becomes its route's description. Answers go out as the model's JSON dump, so
what a node builds is exactly what the wire carries (the Docker HEALTHCHECK and the Kubernetes probes read
these routes).
"""

# no `from __future__ import annotations`: FastAPI evaluates the routes' annotations, which name the dependencies
# passed to `node_router` (closure variables, not module globals)
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from .tasks import TaskHealth

PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class Health(BaseModel):
    """`GET /health`: the process is alive (no dependency is checked)."""

    status: Literal["alive"] = "alive"


class Ready(BaseModel):
    """`GET /ready` 200: the node does its work; `degraded` while some background task keeps failing."""

    status: Literal["ready", "degraded"]
    failing: dict[str, str] = Field(description="Background tasks that keep failing, with their last error.")

    @staticmethod
    def status_for(failing: dict[str, str]) -> Literal["ready", "degraded"]:
        return "degraded" if failing else "ready"


class NotReady(BaseModel):
    """`GET /ready` 503: the node cannot do its work yet; `reason` says why."""

    status: Literal["not ready"] = "not ready"
    reason: str
    failing: dict[str, str] = Field(description="Background tasks that keep failing, with their last error.")


# a FastAPI dependency (sync or async) of the node, checked by `_answer_models` for what it returns
Dependency = Callable[..., Any]


async def get_registry(request: Request) -> CollectorRegistry:
    """The node's Prometheus registry (every node puts it on `app.state.registry`)."""
    registry: CollectorRegistry = request.app.state.registry
    return registry


async def get_task_health(request: Request) -> TaskHealth:
    """The node's `TaskHealth` (every node with background tasks puts it on `app.state.health`)."""
    health: TaskHealth = request.app.state.health
    return health


TaskHealthDep = Annotated[TaskHealth, Depends(get_task_health)]


def _answer_models(dependency: Dependency) -> list[type[BaseModel]]:
    """The pydantic models a dependency's return annotation names (one, or the members of a union)."""
    hint = typing.get_type_hints(dependency).get("return")
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if not models or len(models) != len(members):
        raise TypeError(f"{dependency.__qualname__} must be annotated to return pydantic models, not {hint!r}")
    return models


def _one_of(models: list[type[BaseModel]], base: type[BaseModel], dependency: Dependency) -> type[BaseModel]:
    found = [m for m in models if issubclass(m, base)]
    if len(found) != 1:
        raise TypeError(f"{dependency.__qualname__} must return exactly one {base.__name__} model")
    return found[0]


def node_router(readiness: Dependency, status: Dependency | None = None, registry: Dependency = get_registry,
                metrics_help: str = "Prometheus metrics.") -> APIRouter:
    """The shared routes of a node; see the module docstring for what each argument is."""
    models = _answer_models(readiness)
    ready_model, not_ready_model = _one_of(models, Ready, readiness), _one_of(models, NotReady, readiness)
    router = APIRouter(tags=["health"])

    @router.get("/health")
    def health() -> Health:
        """The process is alive (no dependency checks)."""
        return Health()

    # sync routes and dependencies run in the thread pool, as the nodes' own handlers did before
    @router.get("/ready", response_model=ready_model, description=inspect.getdoc(readiness),
                responses={503: {"model": not_ready_model, "description": "Not ready"}})
    def ready(answer: Annotated[Ready | NotReady, Depends(readiness)]) -> Response:
        return JSONResponse(answer.model_dump(mode="json"), status_code=503 if isinstance(answer, NotReady) else 200)

    @router.get("/metrics", response_class=Response, description=metrics_help,
                responses={200: {"content": {PROMETHEUS_TEXT: {}}, "description": "Prometheus text format"}})
    def metrics(collected: Annotated[CollectorRegistry, Depends(registry)]) -> Response:
        return Response(generate_latest(collected), media_type=PROMETHEUS_TEXT)

    if status is not None:
        status_model = _one_of(_answer_models(status), BaseModel, status)

        @router.get("/status", response_model=status_model, description=inspect.getdoc(status))
        def node_status(answer: Annotated[BaseModel, Depends(status)]) -> Response:
            return JSONResponse(answer.model_dump(mode="json"))

    return router
