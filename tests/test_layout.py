"""The repository's layout rules: nothing outside tests/ imports the tests (tooling uses loop_testkit instead)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {"tests", "docs", "build", "data"}


def imports_of_tests(source: str) -> list[str]:
    """The `tests` modules that `source` imports, wherever the import stands (module level or in a function)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "tests"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "tests":
            found.append(str(node.module))
    return found


def code_outside_tests() -> list[Path]:
    folders = [p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in SKIPPED]
    return sorted(path for folder in folders for path in folder.rglob("*.py")
                  if not any(part.startswith(".") or part == "__pycache__" for part in path.parts))


def test_the_check_finds_imports_of_tests() -> None:
    source = "import tests.processes\nfrom tests import conftest\ndef f():\n    from tests.e2e.plugins import X\n"
    assert imports_of_tests(source) == ["tests.processes", "tests", "tests.e2e.plugins"]
    assert imports_of_tests("from loop_testkit.processes import Service\nfrom . import tests\n") == []


def test_no_code_outside_tests_imports_the_tests() -> None:
    paths = code_outside_tests()
    folders = {p.relative_to(ROOT).parts[0] for p in paths}
    assert {"annotator", "bench", "chaos", "compat", "scripts", "stub_loop", "testkit"} <= folders
    offenders = {str(p.relative_to(ROOT)): found for p in paths if (found := imports_of_tests(p.read_text()))}
    assert not offenders, f"import loop_testkit instead of the tests: {offenders}"
