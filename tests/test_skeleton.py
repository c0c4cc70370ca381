"""Every node has the same skeleton, and what every node serves alike is written once, in `loop_shared`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def discover_nodes() -> dict[str, Path]:
    """Every package a console command runs as `<package>.main:main`: the nodes, and any node added later."""
    nodes = {}
    for pyproject in sorted(ROOT.glob("*/pyproject.toml")):
        scripts = tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {})
        for target in scripts.values():
            if match := re.fullmatch(r"(\w+)\.main:main", target):
                nodes[pyproject.parent.name] = pyproject.parent / match.group(1)
    return nodes


NODES = discover_nodes()
SKELETON = {"settings.py", "app.py", "routes/__init__.py", "routes/health.py", "schemas.py", "deps.py", "errors.py",
            "main.py"}
PLUGIN_BASE = "logic.py"
WITHOUT_PLUGIN = {"stub_loop"}  # a test double: nothing for a user to plug in
SHARED_PATHS = ("/health", "/ready", "/metrics", "/status")
# a route declared by a decorator or an add_api_route call, with its path as the first argument
ROUTE = re.compile(r"""\.(?:get|post|put|delete|patch|api_route|add_api_route)\(\s*["']([^"']+)["']""")


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "static" not in p.parts)


def skeleton_of(node: str) -> set[str]:
    root = NODES[node]
    expected = SKELETON | ({PLUGIN_BASE} if node not in WITHOUT_PLUGIN else set())
    return {name for name in expected if (root / name).is_file()}


def test_the_nodes_are_found() -> None:
    assert {"detector", "trainer", "converter", "annotator", "stub_loop"} <= set(NODES)
    assert all(path.is_dir() for path in NODES.values())


@pytest.mark.parametrize("node", sorted(NODES))
def test_every_node_has_the_skeleton(node: str) -> None:
    expected = SKELETON | ({PLUGIN_BASE} if node not in WITHOUT_PLUGIN else set())
    assert skeleton_of(node) == expected, f"{node} lacks {sorted(expected - skeleton_of(node))}"


def test_the_nodes_list_the_same_skeleton_module_names() -> None:
    lists = {node: skeleton_of(node) - {PLUGIN_BASE} for node in NODES}
    assert len({frozenset(names) for names in lists.values()}) == 1, lists


def test_no_node_keeps_a_module_the_skeleton_moved_into_routes() -> None:
    assert [str(p.relative_to(ROOT)) for node in NODES.values() for p in [node / "pages.py"] if p.exists()] == []


@pytest.mark.parametrize("node", sorted(NODES))
def test_app_is_composition_only(node: str) -> None:
    app = (NODES[node] / "app.py").read_text()
    assert not re.search(r"@\w+\.(get|post|put|delete|patch|api_route)\(", app), "routes belong in routes/"
    assert "routes import" in app and "health" in app


def test_the_health_readiness_metrics_and_status_routes_are_declared_once_in_shared() -> None:
    declared: dict[str, list[str]] = {}
    for root in [*NODES.values(), ROOT / "shared/loop_shared"]:
        for path in python_files(root):
            for route in ROUTE.findall(path.read_text()):
                if route in SHARED_PATHS:
                    declared.setdefault(route, []).append(str(path.relative_to(ROOT)))
    assert declared == {route: ["shared/loop_shared/node_routes.py"] for route in SHARED_PATHS}

