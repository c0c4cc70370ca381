"""Run the training child process: output to a log, progress followed, terminated on every exit path."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("trainer.runner")
PR_SET_PDEATHSIG = 1


class ChildFailed(Exception):
    """The child process exited non-zero; the message holds the end of its log."""


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the node dies, even by `kill -9` (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ChildProcess:
    def __init__(self, logic_path: str, log_path: Path, progress_path: Path) -> None:
        self.logic_path, self.log_path, self.progress_path = logic_path, log_path, progress_path
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def request_stop(self) -> None:
        """Ask the child to finish with what it has (SIGTERM, which the child handles)."""
        if self.running and self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)

    async def run(self, args: list[str], on_report: Callable[[dict[str, Any]], None]) -> None:
        """Run `python -m loop_trainer.child LOGIC *args`; raise ChildFailed on a non-zero exit."""
        offset = self.progress_path.stat().st_size if self.progress_path.exists() else 0
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loop_trainer.child", self.logic_path, *args,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_parent)
            try:
                while True:
                    try:
                        await asyncio.wait_for(self.proc.wait(), timeout=1.0)
                        break
                    except TimeoutError:
                        offset = self._follow(offset, on_report)
                offset = self._follow(offset, on_report)
            finally:
                await self._terminate()
        code = self.proc.returncode
        self.proc = None
        if code != 0:
            raise ChildFailed(f"the training process exited with {code}: {self.tail()}")

    def _follow(self, offset: int, on_report: Callable[[dict[str, Any]], None]) -> int:
        if not self.progress_path.exists():
            return offset
        with open(self.progress_path) as f:
            f.seek(offset)
            for line in f:
                if line.endswith("\n"):
                    try:
                        on_report(json.loads(line))
                    except ValueError:
                        log.warning("ignoring a malformed progress line")
                    offset += len(line.encode())
        return offset

    async def _terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=15)
        except TimeoutError:
            log.warning("the training process ignored SIGTERM; killing it")
            proc.kill()
            await proc.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return " | ".join(text[-lines:])[-1500:]
