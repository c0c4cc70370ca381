from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from loop_shared.errors import ModelPackageError
from loop_shared.model_package import build_package, extract_package, read_model_info

MODEL_JSON = {"id": "m1", "organization": "o", "project": "p", "version": "1.2",
              "categories": [{"id": "c", "name": "cat", "type": "box"}], "resolution": 64, "custom": "kept"}


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_build_and_extract_round_trip(tmp_path: Path) -> None:
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"weights")
    package = build_package([weights], MODEL_JSON, tmp_path / "out" / "pkg.zip")
    target = extract_package(package, tmp_path / "unpacked")
    assert (target / "model.onnx").read_bytes() == b"weights"
    info = read_model_info(target)
    assert info.version == "1.2" and info.categories[0].name == "cat" and info.model_extra == {"custom": "kept"}


@pytest.mark.parametrize("name", ["/etc/evil", "../evil", "a/../../evil", "C:\\evil"])
def test_unsafe_paths_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", {"model.json": b"{}", name: b"x"})
    with pytest.raises(ModelPackageError):
        extract_package(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil").exists()


def test_links_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", "{}")
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ModelPackageError, match="link"):
        extract_package(path, tmp_path / "out")


def test_size_limit(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"model.json": b"{}", "w.bin": b"0" * 10_000})
    with pytest.raises(ModelPackageError, match="limit"):
        extract_package(archive, tmp_path / "out", max_bytes=5_000)


def test_model_json_required_unless_base_model(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "base.zip", {"weights.pt": b"x"})
    with pytest.raises(ModelPackageError, match=r"no model\.json"):
        extract_package(archive, tmp_path / "out")
    assert (extract_package(archive, tmp_path / "base", require_model_json=False) / "weights.pt").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "junk.zip"
    path.write_bytes(b"this is not a zip")
    with pytest.raises(ModelPackageError, match="not a valid zip"):
        extract_package(path, tmp_path / "out")


def test_single_folder_zip_is_flattened(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "dir.zip", {"mymodel/model.json": json.dumps(MODEL_JSON).encode(),
                                              "mymodel/model.onnx": b"w"})
    target = extract_package(archive, tmp_path / "out")
    assert sorted(p.name for p in target.iterdir()) == ["model.json", "model.onnx"]


def test_invalid_model_json_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text(json.dumps({**MODEL_JSON, "version": 1.0}))
    with pytest.raises(ModelPackageError, match="version"):
        read_model_info(tmp_path / "m")
