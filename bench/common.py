"""Helpers for the benchmarks: timing statistics, process memory, tables, a stub Loop to talk to."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from loop_testkit.processes import Service, free_port

USER, PASSWORD, ORG = "bench", "bench-pw", "bench"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99), "mean": statistics.fmean(ordered)}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of a process (and its children) in MB, from /proc."""
    pids = [pid]
    if children:
        with suppress(OSError):
            pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(what)


@contextmanager
def stub_loop(work: Path) -> Iterator[tuple[Service, httpx.Client]]:
    env = {"LOOP_NODE_PORT": str(free_port()), "LOOP_DATA_DIR": str(work / "stub"), "LOOP_USERNAME": USER,
           "LOOP_PASSWORD": PASSWORD, "LOOP_LOG_LEVEL": "WARNING"}
    service = Service("loop-stub", env, work / "stub.log", "/api/status").start()
    client = httpx.Client(base_url=service.url + "/api", timeout=120)
    client.post("/login", data={"username": USER, "password": PASSWORD})
    try:
        yield service, client
    finally:
        client.close()
        service.stop()


def node_env(stub: Service, data_dir: Path, project: str, **extra: str) -> dict[str, str]:
    return {"LOOP_HOST": f"127.0.0.1:{stub.port}", "LOOP_USERNAME": USER, "LOOP_PASSWORD": PASSWORD,
            "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": project, "LOOP_DATA_DIR": str(data_dir),
            "LOOP_NODE_PORT": str(free_port()), "LOOP_LOG_LEVEL": "WARNING",
            "LOOP_TRAINER_LOGIC": "loop_reference_trainer.logic:ReferenceTrainerLogic", **extra}
