"""Processes the chaos runs start: the stub Loop, a detector serving a model, a trainer, a converter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import ORG, node_env
from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service

__all__ = ["ORG", "Nodes", "deploy_grid_model", "node_env"]


class Nodes:
    """Starts node processes with their logs under `work`, and stops every one of them at the end."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.started: list[Service] = []

    def start(self, command: str, env: dict[str, str], ready: str = "/health", wait: bool = True) -> Service:
        service = Service(command, env, self.work / f"{command}-{len(self.started)}.log", ready)
        self.started.append(service)
        return service.start(wait_ready=wait, timeout=60)

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()


@contextmanager
def nodes(work: Path) -> Iterator[Nodes]:
    started = Nodes(work)
    try:
        yield started
    finally:
        started.stop_all()


def deploy_grid_model(loop: httpx.Client, work: Path, project: str, images: int = 0) -> dict[str, str]:
    """A project with the grid model deployed as its target; returns the model record."""
    loop.post(f"/{ORG}/projects/generator", json={"project_name": project, "complete": images, "box_categories": 2})
    package = grid_package(work / f"{project}.zip")
    model: dict[str, str] = loop.post(f"/{ORG}/projects/{project}/onnx",
                                      files={"files": (package.name, package.read_bytes())}).json()
    loop.put(f"/{ORG}/projects/{project}/deployment/target", json={"model_uuid": model["id"]})
    return model
