"""The routes every node serves alike (`loop_shared.node_routes`), on a small app of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel

from loop_shared.node_routes import NotReady, Ready, TaskHealthDep, node_router
from loop_shared.tasks import TaskHealth


class ModelReady(Ready):
    model_version: str


class NoModel(NotReady):
    building: str | None


class Figures(BaseModel):
    answered: int
    last: str | None


def readiness(request: Request, health: TaskHealthDep) -> ModelReady | NoModel:
    """Ready once the test put a version on `app.state`."""
    version: str | None = request.app.state.version
    failing = health.failing()
    if version is None:
        return NoModel(reason="no model yet", failing=failing, building="1.0")
    return ModelReady(status=ModelReady.status_for(failing), failing=failing, model_version=version)


def status(request: Request) -> Figures:
    """What the test node has done."""
    return Figures(answered=request.app.state.answered, last=None)


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.state.registry = CollectorRegistry()
    app.state.health = TaskHealth(app.state.registry, "test_node")
    app.state.version, app.state.answered = None, 7
    Counter("test_node_answers", "Answers given", registry=app.state.registry).inc(3)
    app.include_router(node_router(readiness, status=status, metrics_help="The test node's figures."))
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_health_answers_alive(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json() == {"status": "alive"}


def test_ready_is_503_with_the_reason_and_the_nodes_own_fields_until_the_node_is_ready(app: FastAPI,
                                                                                      client: TestClient) -> None:
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "reason": "no model yet", "failing": {}, "building": "1.0"}
    app.state.version = "1.2"
    answer = client.get("/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "failing": {}, "model_version": "1.2"}


def test_ready_is_degraded_while_a_task_keeps_failing_and_ready_again_after_it_succeeds(app: FastAPI,
                                                                                       client: TestClient) -> None:
    app.state.version = "1.2"
    health: TaskHealth = app.state.health
    for _ in range(health.failing_after):
        health.failed("outbox", "the Loop is away")
    answer = client.get("/ready")
    assert answer.status_code == 200  # degraded still does its work: no 503, or a balancer would drop it
    assert answer.json()["status"] == "degraded" and answer.json()["failing"] == {"outbox": "the Loop is away"}
    health.ok("outbox")
    assert client.get("/ready").json() == {"status": "ready", "failing": {}, "model_version": "1.2"}


def test_metrics_render_the_nodes_registry_in_prometheus_text(client: TestClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "test_node_answers_total 3.0" in answer.text
    assert "test_node_task_failures_total" in answer.text.replace("# HELP ", "")  # the TaskHealth's own figures


def test_status_answers_the_providers_model_as_it_built_it(app: FastAPI, client: TestClient) -> None:
    assert client.get("/status").json() == {"answered": 7, "last": None}
    app.state.answered = 8
    assert client.get("/status").json() == {"answered": 8, "last": None}


def always_ready() -> Ready | NotReady:
    return Ready(status="ready", failing={})


def test_a_node_without_a_status_provider_serves_no_status() -> None:
    app = FastAPI()
    app.state.registry, app.state.health, app.state.version = CollectorRegistry(), None, "1"
    app.include_router(node_router(always_ready))
    client = TestClient(app)
    assert client.get("/status").status_code == 404
    assert client.get("/ready").json() == {"status": "ready", "failing": {}}


def test_docs_show_each_nodes_own_answer_models_and_descriptions(app: FastAPI) -> None:
    schema = app.openapi()
    ready = schema["paths"]["/ready"]["get"]
    assert ready["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ModelReady")
    assert ready["responses"]["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/NoModel")
    assert ready["description"] == "Ready once the test put a version on `app.state`."
    status_get = schema["paths"]["/status"]["get"]
    assert status_get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Figures")
    assert schema["paths"]["/metrics"]["get"]["description"] == "The test node's figures."
    health = schema["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health["$ref"].endswith("/Health")


def untyped_readiness() -> dict[str, str]:
    return {"status": "ready"}


def partly_typed_readiness() -> Ready | NotReady | dict[str, str]:
    return {"status": "ready"}


def only_ready() -> Ready:
    return Ready(status="ready", failing={})


def untyped_status() -> dict[str, int]:
    return {}


@pytest.mark.parametrize(("ready", "node_status", "message"), [
    (untyped_readiness, None, "untyped_readiness must be annotated to return pydantic models"),
    (partly_typed_readiness, None, "partly_typed_readiness must be annotated to return pydantic models"),
    (only_ready, None, "only_ready must return exactly one NotReady model"),
    (always_ready, untyped_status, "untyped_status must be annotated to return pydantic models")])
def test_a_provider_without_typed_answers_is_refused_when_the_router_is_built(ready: object, node_status: object,
                                                                              message: str) -> None:
    with pytest.raises(TypeError, match=message):
        node_router(ready, status=node_status)  # type: ignore[arg-type]
