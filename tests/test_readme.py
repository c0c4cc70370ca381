"""The README's configuration tables are the settings classes' own fields."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_tables_match_the_settings() -> None:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    assert module.readme_with_tables(readme) == readme, "run: .venv/bin/python scripts/settings_table.py --write"
    assert "`LOOP_DETECTOR_LOGIC`" in readme and "`LOOP_HOST`" in readme
