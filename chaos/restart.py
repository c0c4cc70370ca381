"""The Loop goes away and comes back while every node runs: once as a restart (the process stops: connections are
refused, and the stub is killed with -9 so nothing is said goodbye) and once behind a port-forwarder that resets
every connection for a while. After each, every node must be back in contact on its own: the trainer's Socket.IO
connection, the detector's status reports, the converter's scans. Measured: seconds from the Loop's return until
each node is back.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from bench.common import PASSWORD, USER, table
from loop_testkit.processes import Service, free_port

from .proxy import Proxy
from .report import Finding
from .stack import ORG, deploy_grid_model, node_env, nodes

PROJECT = "restart"


def trainer_connected(stub_url: str) -> bool:
    try:
        return bool(httpx.get(f"{stub_url}/api/trainers", timeout=5).json()["trainers"])
    except httpx.HTTPError:
        return False


def detector_seen_after(stub_url: str, moment: float) -> bool:
    try:
        with httpx.Client(base_url=stub_url + "/api", timeout=5) as loop:
            loop.post("/login", data={"username": USER, "password": PASSWORD})
            detectors = loop.get(f"/{ORG}/projects/{PROJECT}/detectors").json()["detectors"]
    except httpx.HTTPError:
        return False
    from datetime import datetime
    return any(datetime.fromisoformat(d["last_seen"]).timestamp() > moment for d in detectors)


def converter_scanned_after(url: str, moment: float) -> bool:
    try:
        last = httpx.get(f"{url}/status", timeout=5).json()["last_scan"]
    except httpx.HTTPError:
        return False
    return bool(last and last > moment)


def wait_back(checks: dict[str, Callable[[], bool]], since: float, timeout: float) -> dict[str, float | None]:
    back: dict[str, float | None] = dict.fromkeys(checks)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and None in back.values():
        for name, check in checks.items():
            if back[name] is None and check():
                back[name] = round(time.monotonic() - since, 1)
        time.sleep(0.2)
    return back


def run(work: Path, down_seconds: float = 20.0, quick: bool = False) -> Finding:
    cap = 60.0
    finding = Finding("Loop restart and connection resets",
                      f"after the Loop was away for {down_seconds:.0f} s (killed with -9, then behind a resetting "
                      f"forwarder), every node is back in contact on its own within the longest backoff "
                      f"({cap:.0f} s)")
    stub_env = {"LOOP_NODE_PORT": str(free_port()), "LOOP_DATA_DIR": str(work / "stub"), "LOOP_USERNAME": USER,
                "LOOP_PASSWORD": PASSWORD, "LOOP_LOG_LEVEL": "INFO"}
    stub = Service("loop-stub", stub_env, work / "stub.log", "/api/status").start()
    rows = []
    try:
        with nodes(work) as started, Proxy("127.0.0.1", stub.port) as proxy:
            with httpx.Client(base_url=stub.url + "/api", timeout=60) as loop:
                loop.post("/login", data={"username": USER, "password": PASSWORD})
                deploy_grid_model(loop, work, PROJECT, images=4)
            host = {"LOOP_HOST": f"127.0.0.1:{proxy.port}", "LOOP_LOG_LEVEL": "INFO"}
            detector = started.start("loop-detector", {**node_env(stub, work / "detector", PROJECT), **host,
                                                       "LOOP_STATUS_INTERVAL": "2"}, "/ready")
            started.start("loop-trainer", {**node_env(stub, work / "trainer", PROJECT), **host}, "/ready")
            converter = started.start("loop-converter", {**node_env(stub, work / "converter", PROJECT), **host,
                                                         "LOOP_POLL_INTERVAL": "2"}, "/ready")
            for how in ("restart (kill -9, refused)", "connections reset"):
                if how.startswith("restart"):
                    stub.stop(signal.SIGKILL)
                    time.sleep(down_seconds)
                    stub.start()
                else:
                    proxy.mode = "reset"
                    time.sleep(down_seconds)
                    proxy.mode = "forward"
                returned = time.monotonic()
                wall = time.time()
                back = wait_back({"trainer (Socket.IO)": lambda: trainer_connected(stub.url),
                                  "detector (status report)": partial(detector_seen_after, stub.url, wall),
                                  "converter (scan)": partial(converter_scanned_after, converter.url, wall)},
                                 returned, cap + 30)
                for node, seconds in back.items():
                    rows.append([how, node, seconds if seconds is not None else "NOT BACK"])
                    finding.check(seconds is not None, f"{how}: {node} not back within {cap + 30:.0f} s")
                    finding.check_timing(seconds is None or seconds <= cap + 5, f"{how}: {node} back after {seconds}")
                finding.figures[how] = back
                alive = httpx.get(f"{detector.url}/ready", timeout=5).status_code == 200
                finding.check(alive, f"{how}: the detector stopped serving")
        finding.lines += [table(["Loop away by", "node", "back in contact after (s)"], rows)]
    finally:
        stub.stop()
    return finding
