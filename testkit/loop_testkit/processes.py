"""Start our console commands as real processes on free ports, and stop them again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """A node or the stub Loop running as its own process, with its log in a file."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path, ready_path: str) -> None:
        self.command, self.env, self.log_path, self.ready_path = command, env, log_path, ready_path
        self.port = int(env["LOOP_NODE_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> Service:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
        full_env.update(self.env)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        self.proc = subprocess.Popen([str(BIN / self.command)], env=full_env, stdout=log, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0, path: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + (path or self.ready_path), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.command} not ready at {path or self.ready_path} in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail naming `what`. A request in the
    condition that times out or finds no listener counts as "not yet" (a busy machine, a process still starting);
    the last such error is named if the time runs out."""
    deadline = time.monotonic() + timeout
    last_error: httpx.TransportError | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.TransportError as e:
            last_error, value = e, None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s"
                         + (f" (last request error: {last_error!r})" if last_error else ""))
