"""Drive a single-node Docker Swarm for `make swarm-e2e`: init (and leave again), deploy and remove a stack, read
services and tasks. Every wait is bounded in time; `Swarm.cleanup` runs even when a test fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loop_testkit.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = ROOT / "deploy" / "swarm" / "stack.yml"


def docker(*args: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def bounded(condition: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """`wait_until`, polling once a second by default (Docker's answers are slow to change)."""
    return wait_until(condition, timeout, what, interval)


class Swarm:
    def __init__(self, stack: str) -> None:
        self.stack, self.initialised = stack, False

    def ensure(self) -> None:
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
        if state != "active":
            docker("swarm", "init", "--advertise-addr", "127.0.0.1")
            self.initialised = True

    def deploy(self, env: dict[str, str]) -> None:
        docker("stack", "deploy", "--resolve-image", "never", "-c", str(STACK_FILE), self.stack, env=env,
               timeout=180)

    def service(self, name: str) -> str:
        return f"{self.stack}_{name}"

    def tasks(self, name: str) -> list[dict[str, Any]]:
        """The service's tasks that are meant to run, with their state, slot and container id."""
        ids = docker("service", "ps", "-q", "--filter", "desired-state=running", self.service(name)).split()
        if not ids:
            return []
        out = []
        for task in json.loads(docker("inspect", *ids)):
            status = task.get("Status", {})
            out.append({"id": task["ID"], "slot": task.get("Slot"), "state": status.get("State"),
                        "container": status.get("ContainerStatus", {}).get("ContainerID"),
                        "image": task["Spec"]["ContainerSpec"]["Image"].split("@")[0]})
        return out

    def running(self, name: str, replicas: int) -> bool:
        """`replicas` tasks running (and healthy: Swarm starts a task with a health check as running only then)."""
        tasks = self.tasks(name)
        return len(tasks) == replicas and all(t["state"] == "running" and t["container"] for t in tasks)

    def address(self, container: str) -> str:
        """The container's address on the stack's network (the one the balancer connects to)."""
        networks = json.loads(docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container))
        return str(networks[f"{self.stack}_default"]["IPAddress"])

    def logs(self, name: str) -> str:
        """The service's log so far, stdout and stderr of every task."""
        result = subprocess.run(["docker", "service", "logs", "--raw", "--no-trunc", self.service(name)],
                                capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def healthy(self, container: str) -> bool:
        state = docker("inspect", "--format", "{{.State.Health.Status}}", container, check=False).strip()
        return state == "healthy"

    def update_state(self, name: str) -> str:
        return docker("service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
                      self.service(name)).strip()

    def cleanup(self, volumes: list[str]) -> None:
        """Remove the stack, wait (bounded) for its containers to go, remove its volumes, leave a swarm we made."""
        docker("stack", "rm", self.stack, check=False)
        label = f"com.docker.stack.namespace={self.stack}"
        try:
            bounded(lambda: not docker("ps", "-aq", "--filter", f"label={label}", check=False).split(), 90,
                    "the stack's containers gone")
            bounded(lambda: not docker("network", "ls", "-q", "--filter", f"label={label}", check=False).split(),
                    60, "the stack's networks gone")
        finally:
            for volume in volumes:
                docker("volume", "rm", "-f", volume, check=False)
            if self.initialised:
                docker("swarm", "leave", "--force", check=False)
