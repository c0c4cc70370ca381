"""Names from the Loop that become file or URL path parts: plain names pass, everything else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from loop_shared.names import UnsafeNameError, inside, is_safe_name, safe_name


@pytest.mark.parametrize("name", ["5fc2bd6c-2c4c-4a29-b0e8-8a3c0b1b6f7e", "1.0", "1.12", "zauberzeug", "onnx_int8",
                                  "demo-project", "A", "a" * 128])
def test_plain_names_pass(name: str) -> None:
    assert safe_name(name, "field") == name and is_safe_name(name)


@pytest.mark.parametrize("name", ["../escaped", "../../x", "/../vict-0000-0000", "/etc", "a/b", "a\\b", "..", ".",
                                  ".hidden", "", "a" * 129, "x\x00y", "1.0/..", "a..b", " padded", "new\nline",
                                  "ümlaut", None, 5, ["1.0"]])
def test_anything_else_is_refused_naming_the_field(name: object) -> None:
    assert not is_safe_name(name)
    with pytest.raises(UnsafeNameError, match="model version"):
        safe_name(name, "model version")


def test_inside_is_a_second_line_of_defence(tmp_path: Path) -> None:
    assert inside(tmp_path, tmp_path / "a" / "b") == tmp_path / "a" / "b"
    with pytest.raises(UnsafeNameError):
        inside(tmp_path / "models", tmp_path / "models" / ".." / "escaped")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(UnsafeNameError):
        inside(tmp_path, tmp_path / "link" / "etc")
