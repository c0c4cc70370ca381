"""Run the training child process: output to a log, progress followed, terminated on every exit path."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .child import EXIT_INTERRUPTED, EXIT_REFUSED
from .logic import STOP_SIGNAL

log = logging.getLogger("trainer.runner")
PR_SET_PDEATHSIG = 1
SECRET_VARIABLES = ("LOOP_PASSWORD", "PASSWORD")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")


class ChildFailed(Exception):
    """The child process crashed (a non-zero exit); the message is one line: the exception it died of."""


class ChildRefused(Exception):
    """The plugin raised TrainingError: the training cannot succeed; the message is its reason."""


class ChildInterrupted(Exception):
    """The child was shut down before it finished (SIGTERM); the step runs again later, no crash counted."""


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the node dies, even by `kill -9` (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def child_environment() -> dict[str, str]:
    """The node's environment without the Loop password: the plugin has no use for it, and what a child does
    not know, its tracebacks and logs cannot show."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}


def last_exception(text: str) -> str | None:
    """The last `SomeError: message` line of a log (what a traceback ends with), or None."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if _EXCEPTION_LINE.match(line):
            return line[:300]
    return None


class ChildProcess:
    def __init__(self, logic_path: str, log_path: Path, progress_path: Path) -> None:
        self.logic_path, self.log_path, self.progress_path = logic_path, log_path, progress_path
        self.proc: asyncio.subprocess.Process | None = None
        self._fatal: str | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def request_stop(self) -> None:
        """Ask the child to finish with what it has (it also finds the stop file written by the lifecycle)."""
        if self.running and self.proc is not None:
            self.proc.send_signal(STOP_SIGNAL)

    async def run(self, args: list[str], on_report: Callable[[dict[str, Any]], None]) -> None:
        """Run `python -m loop_trainer.child LOGIC *args`; raise ChildFailed, ChildRefused or ChildInterrupted
        when it does not end with exit code 0. Cancelling this terminates the child (SIGTERM, then SIGKILL)."""
        offset = self.progress_path.stat().st_size if self.progress_path.exists() else 0
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._fatal = None

        def report(line: dict[str, Any]) -> None:
            if "fatal" in line:
                self._fatal = str(line["fatal"])
            else:
                on_report(line)

        with open(self.log_path, "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loop_trainer.child", self.logic_path, *args, env=child_environment(),
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_parent)
            try:
                while True:
                    try:
                        await asyncio.wait_for(self.proc.wait(), timeout=1.0)
                        break
                    except TimeoutError:
                        offset = self._follow(offset, report)
                offset = self._follow(offset, report)
            finally:
                await self._terminate()
        code = self.proc.returncode
        self.proc = None
        if code == 0:
            return
        if code == EXIT_REFUSED and self._fatal:
            raise ChildRefused(self._fatal)
        if code == EXIT_INTERRUPTED:
            raise ChildInterrupted("the training process was shut down before it finished")
        reason = last_exception(self.tail(60, separator="\n", limit=10**6)) or f"exit code {code}"
        log.error("the training process exited with %s; the end of %s:\n%s", code, self.log_path.name,
                  self.tail(30, separator="\n"))
        raise ChildFailed(f"the training process crashed: {reason}")

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

    def tail(self, lines: int = 15, separator: str = " | ", limit: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return separator.join(text[-lines:])[-limit:]
