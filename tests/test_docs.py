"""The docs hold together: links resolve, the configuration tables are the settings classes' own, the README is short.

Covers README.md, CONTRIBUTING.md and every page under docs/. A relative link must name an existing file or folder;
a link with an anchor (`page.md#heading`, or `#heading` within the page) must name a heading of that page, by the
anchor GitHub gives it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
FIRST_SCREEN_LINES = 40

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed (neither holds links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file (lower case, punctuation dropped, spaces to -)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(2).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def dead_links(path: Path, root: Path = ROOT) -> list[str]:
    """Every relative link of `path` that names no existing file, or a heading its file does not have."""
    dead = []
    for line in prose_lines(path.read_text()):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                dead.append(f"{path.relative_to(root)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                dead.append(f"{path.relative_to(root)}: {target} (no heading #{anchor})")
    return dead


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert dead_links(path) == []


def test_the_link_check_finds_a_dead_link_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text("# Top\n[ok](other.md#a-heading) [here](#top) [web](https://example.com)\n"
                    "[gone](missing.md) [wrong](other.md#no-such)\n```\n[in code](nowhere.md)\n```\n")
    assert dead_links(page, tmp_path) == [
        "page.md: missing.md (no such file)", "page.md: other.md#no-such (no heading #no-such)"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in (ROOT / "docs").glob("*.md") if f"(docs/{p.name}" not in readme]
    assert unlinked == []


def test_the_readme_is_short_and_its_first_screen_shows_the_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    first_screen = "\n".join(lines[:FIRST_SCREEN_LINES])
    for shown in ("make up", "make test", "curl "):
        assert shown in first_screen, f"{shown!r} not in the README's first {FIRST_SCREEN_LINES} lines"


def test_configuration_tables_match_the_settings() -> None:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = ROOT / "docs" / "configuration.md"
    page = path.read_text()
    assert "<!-- settings:start -->" in page and "<!-- settings:end -->" in page
    assert module.readme_with_tables(page) == page, (
        "docs/configuration.md differs from the settings classes; rewrite its tables with: "
        ".venv/bin/python scripts/settings_table.py --write")
    assert "`LOOP_DETECTOR_LOGIC`" in page and "`LOOP_HOST`" in page
