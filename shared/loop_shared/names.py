"""Every string from the Loop that ends up in a file path or a URL path passes through here first.

The Loop is untrusted input: any host other than learning-loop.ai is plain http by default, so a spoofed or
broken Loop could send a model version `../../escaped` or a training id `../../victim` and make a node write or
delete outside its data directory. The protocol's ids are UUIDs, versions are digits and dots, organizations,
projects and formats are short slugs; these checks accept exactly such names (letters, digits, `.`, `_`, `-`,
not starting with a dot) and refuse everything else with an error that names the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}$")


class UnsafeNameError(ValueError):
    """A Loop-supplied name that must not be used in a path; the message names the field and the value."""


def safe_name(value: Any, field: str) -> str:
    """`value` if it is a plain name (no separators, no `..`, at most 128 characters); else UnsafeNameError."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        shown = repr(value)[:80] if isinstance(value, str) else type(value).__name__
        raise UnsafeNameError(f"the Loop sent an unusable {field}: {shown} (expected letters, digits, '.', '_' "
                              "or '-', not starting with '.', at most 128 characters)")
    return value


def is_safe_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_NAME.match(value)) and ".." not in value


def inside(root: Path, path: Path) -> Path:
    """`path` if it lies within `root` once both are resolved (a second line of defence behind safe_name)."""
    resolved, base = path.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafeNameError(f"{path} is outside {root}")
    return path
