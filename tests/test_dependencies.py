"""Every import of a package's code is installed with it: each module a package imports (at module level or in a
function) belongs to the standard library, to the package itself, or to a distribution that its pyproject's
dependencies bring in (directly, or as the requirements of those, with the extras asked for). A node image installs
exactly that set, so an import outside it (Pillow in `loop_shared.mask_metrics`, once) would stop the container at
start; here it is found without building an image.

Imports under `if TYPE_CHECKING:` never run and are not counted."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.parent for p in ROOT.glob("*/pyproject.toml"))


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(source: str) -> set[str]:
    """The top-level modules `source` imports when it runs (relative imports and TYPE_CHECKING blocks aside)."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for statement in node.body for child in ast.walk(statement))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def installed_with(requirements: list[str]) -> set[str]:
    """The distributions `requirements` install: themselves and, recursively, what each of them requires (a
    requirement behind an extra only where that extra was asked for; environment markers as on this machine)."""
    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name, extras = normalised(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        for line in _requirements_of(name):
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in (extras or {""})):
                todo.append(child)
    return names


@cache
def _requirements_of(name: str) -> tuple[str, ...]:
    try:
        return tuple(requires(name) or ())
    except PackageNotFoundError:
        return ()


def undeclared_imports(project: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """module → the files of `project` that import it without the project's dependencies installing it."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    allowed = installed_with([meta["name"], *meta.get("dependencies", [])])
    owners = packages_distributions()
    packages = [p for p in project.iterdir() if (p / "__init__.py").exists()]
    own = {p.name for p in packages}
    missing: dict[str, list[str]] = {}
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            for module in imported_modules(path.read_text()):
                if module in sys.stdlib_module_names or module in own:
                    continue
                if not {normalised(d) for d in owners.get(module, [module])} & allowed:
                    missing.setdefault(module, []).append(str(path.relative_to(root)))
    return missing


def test_the_check_reads_imports_wherever_they_stand_and_skips_type_checking_blocks() -> None:
    source = ("import numpy as np\nfrom PIL import Image\nfrom . import sibling\n"
              "def f():\n    import jax.numpy\n"
              "if TYPE_CHECKING:\n    import torch\n")
    assert imported_modules(source) == {"numpy", "PIL", "jax"}


def test_the_closure_follows_requirements_and_only_the_extras_asked_for() -> None:
    plain = installed_with(["python-socketio"])
    assert {"python-socketio", "python-engineio", "bidict"} <= plain and "aiohttp" not in plain
    assert "aiohttp" in installed_with(["python-socketio[asyncio_client]"])
    assert "pillow" not in installed_with(["loop-shared"])  # what let the Pillow import through once


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_every_import_is_installed_by_the_project_dependencies(project: Path) -> None:
    assert undeclared_imports(project) == {}


def test_an_undeclared_import_is_found(tmp_path: Path) -> None:
    project = tmp_path / "node"
    (project / "loop_node").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "loop-node"\ndependencies = ["numpy>=1.26"]\n')
    (project / "loop_node" / "__init__.py").write_text("")
    (project / "loop_node" / "masks.py").write_text("import numpy\ndef draw():\n    from PIL import Image\n")
    assert undeclared_imports(project, tmp_path) == {"PIL": ["node/loop_node/masks.py"]}
