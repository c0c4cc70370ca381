"""Print docs/configuration.md's tables from the settings classes, so the docs cannot drift from the code.

The rendering is loop_shared.cli's, which also answers every node's `--help`.

Usage: .venv/bin/python scripts/settings_table.py [--write]   (--write rewrites them in docs/configuration.md,
between its `<!-- settings:start -->` and `<!-- settings:end -->` markers; tests/test_docs.py checks they match)
"""

from __future__ import annotations

from pydantic_settings import BaseSettings

from loop_annotator.settings import AnnotatorSettings
from loop_converter.settings import ConverterSettings
from loop_detector.settings import DetectorSettings
from loop_shared.cli import markdown_table
from loop_shared.settings import NodeSettings
from loop_trainer.settings import TrainerSettings
from stub_loop.settings import StubSettings

SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("All nodes (shared)", NodeSettings), ("Detector", DetectorSettings), ("Trainer", TrainerSettings),
    ("Converter", ConverterSettings), ("Annotator", AnnotatorSettings), ("Stub Loop", StubSettings)]


def tables() -> str:
    shared = NodeSettings.model_fields
    out = []
    for title, cls in SERVICES:
        skip = set() if cls is NodeSettings else {
            n for n, f in cls.model_fields.items()
            if n in shared and (f.default, f.description) == (shared[n].default, shared[n].description)}
        out.append(markdown_table(title, cls, skip))
    return "\n\n".join(out)


def readme_with_tables(readme: str) -> str:
    """`readme` (a Markdown page) with the tables between its markers rendered anew; a page without them is an
    error, so the tables are never appended to the wrong file."""
    start, end = "<!-- settings:start -->", "<!-- settings:end -->"
    if start not in readme or end not in readme:
        raise ValueError(f"the page has no {start} ... {end} markers")
    head, _, rest = readme.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{tables()}\n{end}{tail}"


def main() -> None:
    """Rewrite the tables in docs/configuration.md (with --write) or print them."""
    import sys
    from pathlib import Path

    if "--write" in sys.argv:
        path = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
        path.write_text(readme_with_tables(path.read_text()))
    else:
        print(tables())


if __name__ == "__main__":
    main()
