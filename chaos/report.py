"""What a chaos run found: a verdict, the figures, and a markdown section for chaos/results/."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Finding:
    """One scenario's outcome. `ok` is the verdict against the goal stated in `goal`."""

    name: str
    goal: str
    ok: bool = True
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.ok = False
            self.problems.append(problem)

    def markdown(self) -> str:
        verdict = "**passed**" if self.ok else "**FAILED**"
        out = [f"## {self.name}", "", f"Goal: {self.goal}", "", f"Verdict: {verdict}", "", *self.lines, ""]
        if self.problems:
            out += ["Problems:", "", *[f"- {p}" for p in self.problems], ""]
        return "\n".join(out)


def vm_peak_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MB since the last `reset_peak`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def reset_peak(pid: int) -> None:
    """Start a new peak-memory measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
