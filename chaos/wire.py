"""Counting connection attempts at the wire: a pass-through iptables rule counts the SYN packets a node sends to a
port. That counts attempts that were refused as well (nothing listens, so no proxy could see them)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from types import TracebackType


class SynCounter:
    """`with SynCounter(port) as syns: ...; syns.count()` — None when iptables cannot be used here."""

    def __init__(self, port: int) -> None:
        self.rule = ["OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", str(port), "--tcp-flags", "SYN,ACK",
                     "SYN", "-m", "comment", "--comment", f"chaos-{uuid.uuid4().hex[:8]}"]
        self.active = False

    def __enter__(self) -> SynCounter:
        if shutil.which("iptables"):
            result = subprocess.run(["iptables", "-I", *self.rule], capture_output=True, text=True)
            self.active = result.returncode == 0
        return self

    def count(self) -> int | None:
        if not self.active:
            return None
        listing = subprocess.run(["iptables", "-L", "OUTPUT", "-v", "-x", "-n"], capture_output=True,
                                 text=True).stdout
        comment = self.rule[-1]
        line = next((row for row in listing.splitlines() if comment in row), None)
        return int(line.split()[0]) if line else None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.active:
            subprocess.run(["iptables", "-D", *self.rule], capture_output=True)
