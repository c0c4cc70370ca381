"""The command line of every node: `--help` prints what the command does and its `LOOP_*` settings.

The settings are read from the settings class itself (names, defaults, descriptions), so the help cannot drift
from the code. Answering `--help` builds no settings object: it validates nothing, reads no environment, starts
nothing and writes nothing, so it works on a machine that is not configured yet. The same rendering gives the
configuration tables of the docs (scripts/settings_table.py).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from .settings import ENV_PREFIX, NodeSettings

WIDTH = 100


def is_secret(field: FieldInfo) -> bool:
    """A secret's default is never shown, whatever it is."""
    return "SecretStr" in repr(field.annotation) or hasattr(field.default, "get_secret_value")


def default_of(field: FieldInfo) -> str | None:
    """The default as a person reads it; None where there is nothing to show (empty, unset or secret)."""
    if field.default_factory is not None:
        names = getattr(getattr(field.default_factory, "__code__", None), "co_names", ())
        return "CPUs + 1" if any("cpu" in name for name in names) else "computed"
    if is_secret(field):
        return None
    value = getattr(field.default, "value", field.default)  # an enum member shows its value
    return None if value is None or value == "" else str(value)


def env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def markdown_table(title: str, cls: type[BaseSettings], skip: set[str] | None = None) -> str:
    """The settings of `cls` as a markdown table under a `####` title (the docs' configuration tables)."""
    rows = [f"#### {title}", "", "| variable | default | meaning |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        if name in (skip or set()):
            continue
        default = default_of(field)
        if field.is_required():
            shown = "**required**"
        elif default is None:
            shown = "—"
        else:  # a computed default is a phrase, not a value to type
            shown = default if field.default_factory is not None else f"`{default}`"
        rows.append(f"| `{env_name(name)}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def _entry(name: str, field: FieldInfo) -> list[str]:
    default = default_of(field)
    if field.is_required():
        note = "required"
    elif is_secret(field):
        note = "secret"
    else:
        note = f"default: {default}" if default is not None else "default: unset"
    lines = [f"  {env_name(name)}  ({note})"]
    lines += textwrap.wrap(field.description or "", WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6,
                           break_on_hyphens=False)
    return lines


def settings_help(cls: type[BaseSettings], title: str) -> str:
    """The settings of `cls` as plain text for a terminal: one entry per variable with its default and meaning.

    For a node, the settings every node shares (`NodeSettings`) come first, the node's own after them.
    """
    fields = cls.model_fields
    groups: list[tuple[str, list[str]]] = [(f"{title} settings", list(fields))]
    if issubclass(cls, NodeSettings) and cls is not NodeSettings:
        shared = [name for name in fields if name in NodeSettings.model_fields]
        groups = [("Settings every node shares", shared),
                  (f"{title} settings", [name for name in fields if name not in shared])]
    out = [f"Configured by environment variables only ({ENV_PREFIX}*); an empty value counts as unset."]
    for heading, names in groups:
        out += ["", f"{heading}:"]
        for name in names:
            out += _entry(name, fields[name])
    return "\n".join(out)


def parse_command_line(prog: str, description: str, settings: type[BaseSettings] | None = None,
                       argv: Sequence[str] | None = None, epilog: str = "") -> argparse.Namespace:
    """Answer `-h`/`--help` (print, exit 0) and refuse unknown arguments (exit 2) before anything starts.

    `description` says what the command does (a module docstring will do); `settings`, when given, is listed
    with its defaults and descriptions. Returns the parsed (empty) arguments otherwise.
    """
    text = "\n\n".join(part for part in (epilog.strip(), settings_help(settings, prog) if settings else "") if part)
    parser = argparse.ArgumentParser(prog=prog, description=description.strip(), epilog=text or None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.parse_args(argv)
