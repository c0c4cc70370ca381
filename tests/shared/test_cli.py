"""loop_shared.cli: the settings as help text and tables, and the command line every node parses first."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
from pydantic import Field, SecretStr

from loop_shared.cli import markdown_table, parse_command_line, settings_help
from loop_shared.settings import NodeSettings


class Mode(Enum):
    FAST = "fast"


class ExampleSettings(NodeSettings):
    password: SecretStr = Field(SecretStr("hunter2"), description="A password with a default.")
    api_key: SecretStr = Field(description="A required secret.")
    token: str = Field(description="Needed.")
    mode: Mode = Field(Mode.FAST, description="How fast.")
    cache: Path = Field(Path("/cache"), description="Where the cache lives, a description long enough to be "
                        "wrapped onto a second line of the help text, which keeps learning-loop.ai in one piece.")


def test_secret_defaults_are_never_shown() -> None:
    for text in (settings_help(ExampleSettings, "example"), markdown_table("Example", ExampleSettings)):
        assert "hunter2" not in text
    assert "  LOOP_PASSWORD  (secret)" in settings_help(ExampleSettings, "example")
    assert "  LOOP_API_KEY  (required)" in settings_help(ExampleSettings, "example")


def test_each_setting_shows_its_default_and_description() -> None:
    text = settings_help(ExampleSettings, "example")
    assert "  LOOP_MODE  (default: fast)\n      How fast." in text
    assert "  LOOP_TOKEN  (required)\n      Needed." in text
    assert "  LOOP_USERNAME  (default: unset)" in text
    assert "learning-loop.ai" in text  # not broken at its hyphen


def test_the_shared_settings_come_first_then_the_nodes_own() -> None:
    text = settings_help(ExampleSettings, "example")
    shared, _, own = text.partition("example settings:")
    assert "LOOP_HOST" in shared and "LOOP_HOST" not in own
    assert "LOOP_TOKEN" in own and "LOOP_TOKEN" not in shared


def test_the_markdown_table_marks_required_and_unset() -> None:
    table = markdown_table("Example", ExampleSettings, skip={"host"}).splitlines()
    assert table[:4] == ["#### Example", "", "| variable | default | meaning |", "|---|---|---|"]
    assert "| `LOOP_TOKEN` | **required** | Needed. |" in table
    assert "| `LOOP_USERNAME` | — | Loop user name for the cookie login. |" in table
    assert "| `LOOP_MODE` | `fast` | How fast. |" in table
    assert not any("LOOP_HOST" in line for line in table)


def test_help_prints_and_exits_zero_without_building_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line("loop-example", "What it does.", ExampleSettings, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: loop-example [-h]") and "What it does." in out and "LOOP_TOKEN" in out


def test_no_arguments_go_on_and_unknown_ones_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    parse_command_line("loop-example", "What it does.", ExampleSettings, [])
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line("loop-example", "What it does.", ExampleSettings, ["--verbose"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --verbose" in capsys.readouterr().err
