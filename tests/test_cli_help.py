"""Every command answers `--help` and `-h`: what it does and its LOOP_* settings, exit 0, and nothing started.

Each command runs as a real process, as a user would type it, in an empty directory, with no LOOP_* variable set
and HOME pointing into that directory: a node that started anyway would fail its settings (the detector needs
LOOP_ORGANIZATION), serve (and never return within the timeout) or write files there or into its data directory.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from loop_shared.cli import env_name
from loop_shared.settings import NodeSettings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TIMEOUT = 60  # seconds; a command that started a server would still be running


def discover_nodes() -> dict[str, type[NodeSettings]]:
    """Every console command `<package>.main:main` with the settings class of `<package>.settings`: the nodes,
    the stub, and any node added later."""
    nodes = {}
    for pyproject in sorted(ROOT.glob("*/pyproject.toml")):
        scripts = tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {})
        for command, target in scripts.items():
            if match := re.fullmatch(r"(\w+)\.main:main", target):
                module = importlib.import_module(f"{match.group(1)}.settings")
                [settings] = [c for c in vars(module).values() if isinstance(c, type)
                              and issubclass(c, NodeSettings) and c.__module__ == module.__name__]
                nodes[command] = settings
    return nodes


NODES = discover_nodes()

# what the tooling's help must name besides usage: its parts and the results it writes
TOOLS: dict[str, list[str]] = {
    "bench.run": ["trainer", "detector", "active learning", "converter", "outbox", "cold start",
                  "bench/results/latest.md", "bench/results/history.md"],
    "chaos.run": ["outage", "kill", "restart", "hostile", "memory", "fuzz", "--only", "--seconds",
                  "chaos/results/latest.md", "chaos/results/history.md"]}


def flat(text: str) -> str:
    return " ".join(text.split())


def snapshot(path: Path) -> list[tuple[str, int]] | None:
    """What is under `path` (names and sizes), or None when it does not exist."""
    if not path.exists():
        return None
    return sorted((str(p.relative_to(path)), p.stat().st_size if p.is_file() else -1) for p in path.rglob("*"))


def run_help(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    home = cwd / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    data_before = snapshot(Path("/data"))  # the nodes' default LOOP_DATA_DIR
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(command)} still running after {TIMEOUT} s: it started something")
    assert snapshot(cwd) == [("home", -1)], f"{' '.join(command)} wrote files: {snapshot(cwd)}"
    assert snapshot(Path("/data")) == data_before, f"{' '.join(command)} wrote into /data"
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_the_commands_are_found() -> None:
    assert {"loop-detector", "loop-trainer", "loop-converter", "loop-stub"} <= set(NODES)


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", sorted(NODES))
def test_node_help_lists_its_settings_and_starts_nothing(command: str, flag: str, tmp_path: Path) -> None:
    result = run_help([str(BIN / command), flag], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {command}"), result.stdout[:200]
    text = flat(result.stdout)
    for name, field in NODES[command].model_fields.items():
        assert field.description, f"{env_name(name)} has no description in its settings class"
        assert env_name(name) in text, f"{env_name(name)} missing from {command} {flag}"
        assert flat(field.description) in text, f"the description of {env_name(name)} missing from {command} {flag}"
    password = next(line for line in result.stdout.splitlines() if "LOOP_PASSWORD" in line)
    assert "secret" in password and "default" not in password


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("module", sorted(TOOLS))
def test_tool_help_says_what_it_does_and_starts_nothing(module: str, flag: str, tmp_path: Path) -> None:
    result = run_help([sys.executable, "-m", module, flag], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}"), result.stdout[:200]
    for word in TOOLS[module]:
        assert word in flat(result.stdout), f"{word!r} missing from python -m {module} {flag}"


def test_a_node_refuses_arguments_it_does_not_know(tmp_path: Path) -> None:
    result = run_help([str(BIN / "loop-stub"), "--port", "9000"], tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --port 9000" in result.stderr
