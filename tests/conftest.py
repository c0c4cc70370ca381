"""Fixtures that run the stub Loop and nodes as separate processes, talking real HTTP and Socket.IO."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from loop_testkit.processes import Service, free_port

USERNAME, PASSWORD = "tester", "s3cret-pass"
ORG = "zauberzeug"


@pytest.fixture
def stub_env(tmp_path: Path) -> dict[str, str]:
    return {"LOOP_NODE_PORT": str(free_port()), "LOOP_DATA_DIR": str(tmp_path / "stub"),
            "LOOP_USERNAME": USERNAME, "LOOP_PASSWORD": PASSWORD, "LOOP_LOG_LEVEL": "INFO"}


@pytest.fixture
def stub(stub_env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    service = Service("loop-stub", stub_env, tmp_path / "stub.log", "/api/status").start()
    yield service
    service.stop()


@pytest.fixture
def loop(stub: Service) -> Iterator[httpx.Client]:
    """An HTTP client logged in to the stub Loop, with `/api` as base."""
    with httpx.Client(base_url=stub.url + "/api", timeout=30) as client:
        assert client.post("/login", data={"username": USERNAME, "password": PASSWORD}).status_code == 200
        yield client


def node_env(stub: Service, data_dir: Path, project: str, **extra: str) -> dict[str, str]:
    env = {"LOOP_HOST": f"127.0.0.1:{stub.port}", "LOOP_USERNAME": USERNAME, "LOOP_PASSWORD": PASSWORD,
           "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": project, "LOOP_DATA_DIR": str(data_dir),
           "LOOP_NODE_PORT": str(free_port()),
           # the trainer has no default logic: the processes train with the reference trainer unless told otherwise
           "LOOP_TRAINER_LOGIC": "loop_reference_trainer.logic:ReferenceTrainerLogic"}
    env.update(extra)
    return env


def loop_away_env(data_dir: Path, project: str, **extra: str) -> dict[str, str]:
    """A node's settings with the Loop away (nothing listens at its address): what it accepts stays on its disk."""
    return {"LOOP_HOST": f"127.0.0.1:{free_port()}", "LOOP_USERNAME": USERNAME, "LOOP_PASSWORD": PASSWORD,
            "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": project, "LOOP_DATA_DIR": str(data_dir),
            "LOOP_NODE_PORT": str(free_port()), **extra}


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(command: str, env: dict[str, str], ready_path: str = "/health", wait: bool = True) -> Service:
        service = Service(command, env, tmp_path / f"{command}-{len(started)}.log", ready_path)
        started.append(service)
        return service.start(wait_ready=wait)

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def demo_stub(stub_env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    """The stub Loop with the demo project seeded (images and the committed demo model, deployed)."""
    env = {**stub_env, "LOOP_STUB_DEMO": "true", "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": "demo"}
    service = Service("loop-stub", env, tmp_path / "stub.log", "/api/status").start()
    yield service
    service.stop()


@pytest.fixture
def demo_detector(demo_stub: Service, start_node: Callable[..., Service], tmp_path: Path) -> Service:
    """A detector following the demo project, serving its model."""
    detector = start_node("loop-detector", node_env(demo_stub, tmp_path / "detector", "demo", LOOP_POLL_INTERVAL="0.5"))
    detector.wait_ready(path="/ready")
    return detector
