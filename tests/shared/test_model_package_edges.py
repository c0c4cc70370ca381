"""The model package at its edges: limits exactly reached, Windows-style names, folders inside the zip, what
is staged where, what a failure leaves (nothing), and the sweep of killed writes, file by file."""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loop_shared import model_package
from loop_shared.errors import ModelPackageError
from loop_shared.model_package import (
    build_package,
    extract_package,
    read_model_info,
    read_model_json,
    remove_partial_writes,
    write_json_atomic,
)

MODEL = {"id": "m1", "organization": "o", "project": "p", "version": "1.2"}


def make_zip(path: Path, entries: list[tuple[str, bytes | None]]) -> Path:
    """A zip with `entries` in this order; None makes a folder entry."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            if data is None:
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- what a zip may hold ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "message"), [
    ("..\\evil.txt", "leaves the package directory"), ("sub\\..\\..\\evil.txt", "leaves the package directory"),
    ("\\evil.txt", "has an absolute path"), ("/evil.txt", "has an absolute path"), ("C:", "has an absolute path"),
    ("C:evil.txt", "has an absolute path")])
def test_unsafe_names_are_refused_with_the_reason(tmp_path: Path, name: str, message: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", [("model.json", b"{}"), (name, b"x")])
    with pytest.raises(ModelPackageError, match=f"zip entry .* {message}"):
        extract_package(archive, tmp_path / "models" / "out")
    assert list((tmp_path / "models").iterdir()) == []  # nothing staged stays behind


def test_one_character_names_and_windows_separators_inside_the_package_are_fine(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "ok.zip", [("model.json", b"{}"), ("a", b"1"), ("sub\\b.txt", b"2")])
    out = extract_package(archive, tmp_path / "out")
    assert (out / "a").read_bytes() == b"1"
    assert (out / "sub" / "b.txt").read_bytes() == b"2"


def test_the_entry_and_size_limits_are_inclusive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "ok.zip", [("model.json", b"{}"), ("w1.bin", b"0" * 400), ("w2.bin", b"0" * 598)])
    extract_package(archive, tmp_path / "exact", max_bytes=1000, max_entries=3)  # 2 + 400 + 598 bytes, 3 entries
    with pytest.raises(ModelPackageError, match="unpacks to more than the limit of 999 bytes"):
        extract_package(archive, tmp_path / "over", max_bytes=999)  # the sum counts, not any one entry
    with pytest.raises(ModelPackageError, match="zip has 3 entries, more than the limit of 2"):
        extract_package(archive, tmp_path / "many", max_entries=2)


def test_folders_in_any_order_and_files_in_new_folders_are_unpacked(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "nested.zip", [
        ("model.json", b"{}"), ("a/b/c.txt", b"c"), ("a/b/", None), ("x/y/", None), ("x/", None), ("z/last.txt", b"z")])
    out = extract_package(archive, tmp_path / "deep" / "er" / "out")
    assert (out / "a" / "b" / "c.txt").read_bytes() == b"c"
    assert (out / "x" / "y").is_dir()
    assert (out / "z" / "last.txt").read_bytes() == b"z"


def test_a_single_folder_is_served_flat_even_beside_macos_metadata(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "mac.zip", [("mymodel/model.json", b"{}"), ("mymodel/w.onnx", b"w"),
                                              ("__MACOSX/mymodel/._w.onnx", b"meta")])
    out = extract_package(archive, tmp_path / "out")
    assert (out / "model.json").is_file() and (out / "w.onnx").read_bytes() == b"w"
    assert not (out / "mymodel").exists()


def test_a_missing_model_json_is_named(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "none.zip", [("w.onnx", b"w")])
    with pytest.raises(ModelPackageError, match=re.escape("the package has no model.json")):
        extract_package(archive, tmp_path / "out")


# --- unpacking is atomic ---------------------------------------------------------------------------------------

def test_the_package_is_staged_hidden_beside_its_destination_and_replaces_an_old_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    old = models / "m1"
    old.mkdir(parents=True)
    (old / "stale.bin").write_bytes(b"old")
    seen_while_copying: list[list[str]] = []
    copy = model_package.shutil.copyfileobj

    def watching_copy(*args: object) -> None:
        seen_while_copying.append(sorted(p.name for p in models.iterdir()))
        copy(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(model_package.shutil, "copyfileobj", watching_copy)
    out = extract_package(make_zip(tmp_path / "p.zip", [("model.json", b"{}")]), old)
    staged = [n for n in seen_while_copying[0] if n != "m1"]
    assert len(staged) == 1 and staged[0].startswith(".m1.")  # hidden, named after it, in the same folder
    assert sorted(p.name for p in out.iterdir()) == ["model.json"]  # the old package is gone whole
    assert sorted(p.name for p in models.iterdir()) == ["m1"]


def test_a_failed_unpack_leaves_nothing_and_raises_the_packages_error(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelPackageError, match="not a valid zip file"):
        extract_package(broken, tmp_path / "models" / "m1")
    assert list((tmp_path / "models").iterdir()) == []


# --- model.json ------------------------------------------------------------------------------------------------

def test_unreadable_model_json_is_reported_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelPackageError, match=re.escape("the package has no model.json")):
        read_model_json(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelPackageError, match=re.escape("model.json is not valid JSON: ")):
        read_model_json(tmp_path)
    (tmp_path / "model.json").write_text("[1, 2]")
    with pytest.raises(ModelPackageError, match=re.escape("model.json must hold a JSON object")):
        read_model_json(tmp_path)


def test_an_invalid_model_json_names_every_wrong_field_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({**MODEL, "version": 1.0,
                                                     "categories": [{"id": "c", "type": "box"}]}))
    with pytest.raises(ModelPackageError) as caught:
        read_model_info(tmp_path)
    message = str(caught.value)
    assert message.startswith("model.json is invalid: ")
    fields = message.removeprefix("model.json is invalid: ").split("; ")
    assert [f.split(":")[0] for f in fields] == ["version", "categories.0.name"]


# --- building --------------------------------------------------------------------------------------------------

def test_a_built_package_is_deflated_and_its_model_json_is_the_given_one(tmp_path: Path) -> None:
    files = []
    for name, data in (("a.onnx", b"0" * 1000), ("model.json", b'{"id": "stale"}'), ("b.txt", b"b")):
        (tmp_path / name).write_bytes(data)
        files.append(tmp_path / name)
    package = build_package(files, MODEL, tmp_path / "new" / "dir" / "pkg.zip")
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["a.onnx", "b.txt", "model.json"]  # the files after model.json too
        assert json.loads(archive.read("model.json")) == MODEL
        assert archive.getinfo("a.onnx").compress_type == zipfile.ZIP_DEFLATED
    assert leftovers(package.parent) == []


def test_a_package_of_files_alone_needs_their_model_json(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps(MODEL))
    (tmp_path / "w.onnx").write_bytes(b"w")
    package = build_package([tmp_path / "model.json", tmp_path / "w.onnx"], None, tmp_path / "out" / "pkg.zip")
    with zipfile.ZipFile(package) as archive:
        assert json.loads(archive.read("model.json")) == MODEL
    with pytest.raises(ModelPackageError, match=re.escape("a package needs a model.json")):
        build_package([tmp_path / "w.onnx"], None, tmp_path / "out" / "none.zip")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pkg.zip"]  # no half-written zip


def test_two_files_of_one_name_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "w.onnx").write_bytes(folder.encode())
    out = tmp_path / "out"
    with pytest.raises(ModelPackageError, match=re.escape("two files named 'w.onnx' in one package")):
        build_package([tmp_path / "x" / "w.onnx", tmp_path / "y" / "w.onnx"], MODEL, out / "pkg.zip")
    assert list(out.iterdir()) == []


def _staged_names(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records the temporary file each atomic write renames into place."""
    staged: list[Path] = []
    replace = model_package.os.replace

    def recording(src: str | Path, dst: str | Path) -> None:
        staged.append(Path(src))
        replace(src, dst)

    monkeypatch.setattr(model_package.os, "replace", recording)
    return staged


@pytest.mark.parametrize("kind", ["json", "package"])
def test_atomic_writes_stage_under_a_name_the_sweep_recognises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    staged = _staged_names(monkeypatch)
    if kind == "json":
        target = tmp_path / "new" / "state.json"
        write_json_atomic(target, {"a": 1})
    else:
        (tmp_path / "model.json").write_text("{}")
        target = build_package([tmp_path / "model.json"], None, tmp_path / "new" / "pkg.zip")
    assert len(staged) == 1 and staged[0].parent == target.parent
    staged[0].write_text("what a killed write leaves")  # the same name, as if the process died before the rename
    assert remove_partial_writes(target.parent, target.name) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_json_write_that_fails_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json_atomic(path, {"n": 1})
    assert json.loads(path.read_text()) == {"n": 1}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"n": object()})
    assert json.loads(path.read_text()) == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_json_write_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    fsync, replace = model_package.os.fsync, model_package.os.replace

    def recording_fsync(fd: int) -> None:
        events.append(f"fsync:{os.readlink(f'/proc/self/fd/{fd}').rsplit('/', 1)[-1].split('.')[1]}")
        fsync(fd)

    def recording_replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"replace:{Path(dst).name}")
        replace(src, dst)

    monkeypatch.setattr(model_package.os, "fsync", recording_fsync)
    monkeypatch.setattr(model_package.os, "replace", recording_replace)
    write_json_atomic(tmp_path / "state.json", [1])
    assert events == ["fsync:state", "replace:state.json"]


# --- the sweep of killed writes --------------------------------------------------------------------------------

def test_the_sweep_takes_exactly_the_leftovers_and_counts_them(tmp_path: Path) -> None:
    leftovers_of_state = [tmp_path / f".state.json.{c * 8}" for c in "abc"]
    other = tmp_path / ".other.json.abcd1234"
    keep = [tmp_path / "state.json", tmp_path / ".state.json.short", tmp_path / ".a.b", tmp_path / ".hidden"]
    for p in [*leftovers_of_state, other, *keep]:
        p.write_text("x")
    staging_dir = tmp_path / ".m1.abcd1234"  # an unpack in progress: a folder, never swept
    staging_dir.mkdir()
    assert remove_partial_writes(tmp_path, "state.json") == 3
    assert other.exists() and all(p.exists() for p in keep) and staging_dir.is_dir()
    assert remove_partial_writes(tmp_path) == 1  # without a name: every file's leftovers
    assert not other.exists() and all(p.exists() for p in keep) and staging_dir.is_dir()
    assert remove_partial_writes(tmp_path) == 0


def test_a_fresh_leftover_goes_unless_replicas_may_still_be_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = 2_000_000_000.0
    monkeypatch.setattr(model_package.time, "time", lambda: now)
    fresh, exact, old, future = (tmp_path / f".f.json.{c * 8}" for c in "abcd")
    for path, mtime in ((fresh, now - 10), (exact, now - 3600), (old, now - 3601), (future, now + 60)):
        path.write_text("x")
        os.utime(path, (mtime, mtime))
    assert remove_partial_writes(tmp_path, older_than=3600) == 1  # only what is more than an hour old
    assert not old.exists() and exact.exists() and fresh.exists()
    assert remove_partial_writes(tmp_path, older_than=0.5) == 2  # 3600 and 10 s old; not the future one
    assert future.exists()
    assert remove_partial_writes(tmp_path, older_than=0) == 1  # no age limit: whatever its time
    assert remove_partial_writes(tmp_path) == 0


def test_a_leftover_its_writer_renamed_meanwhile_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone, stays = tmp_path / ".s.json.aaaaaaaa", tmp_path / ".s.json.bbbbbbbb"
    gone.write_text("x")
    stays.write_text("x")
    real_stat = Path.stat

    def racing_stat(self: Path, **kwargs: bool) -> os.stat_result:
        if self.name == gone.name:
            raise FileNotFoundError(self)  # renamed by its writer between the listing and this look
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", racing_stat)
    assert remove_partial_writes(tmp_path, "s.json") == 1
    assert not stays.exists()
    assert stat.S_ISREG(real_stat(gone).st_mode)


# --- failures on a file system that does not cooperate ----------------------------------------------------------

def test_writes_create_every_missing_folder_above_them(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "a" / "b" / "state.json", {"n": 1})
    (tmp_path / "w.onnx").write_bytes(b"w")
    package = build_package([tmp_path / "w.onnx"], MODEL, tmp_path / "c" / "d" / "pkg.zip")
    assert json.loads((tmp_path / "a" / "b" / "state.json").read_text()) == {"n": 1}
    assert zipfile.ZipFile(package).namelist() == ["w.onnx", "model.json"]


def test_model_json_is_written_one_key_per_line_for_people(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "model.json", MODEL)
    (tmp_path / "w.onnx").write_bytes(b"w")
    package = build_package([tmp_path / "w.onnx"], MODEL, tmp_path / "pkg.zip")
    for text in ((tmp_path / "model.json").read_text(), zipfile.ZipFile(package).read("model.json").decode()):
        assert json.loads(text) == MODEL
        assert len(text.splitlines()) == len(MODEL) + 2  # "{", one line per key, "}"


def test_a_failed_unpack_whose_cleanup_fails_too_raises_the_packages_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS a folder can refuse to go (`.nfs*` files of handles still open): the cleanup of the staging folder
    must not replace the error that says what was wrong with the package."""
    rmdir = os.rmdir

    def refusing_rmdir(path: str, *args: object, **kwargs: object) -> None:
        if os.path.basename(path).startswith(".m1."):
            raise OSError(39, "Directory not empty", path)
        rmdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", refusing_rmdir)
    archive = make_zip(tmp_path / "none.zip", [("w.onnx", b"w")])
    with pytest.raises(ModelPackageError, match=re.escape("the package has no model.json")):
        extract_package(archive, tmp_path / "models" / "m1")
    assert not (tmp_path / "models" / "m1").exists()


def test_a_failed_json_write_whose_temporary_was_swept_raises_its_own_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another replica's start-up sweep took the temporary file; then the write fails (an I/O error at fsync):
    that I/O error is what the caller sees, not a FileNotFoundError of the cleanup."""

    def swept_then_failing_fsync(fd: int) -> None:
        assert remove_partial_writes(tmp_path, "state.json") == 1
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(model_package.os, "fsync", swept_then_failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write_json_atomic(tmp_path / "state.json", {"n": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_whose_temporary_was_swept_raises_its_own_error(tmp_path: Path) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "w.onnx").write_bytes(folder.encode())
    out = tmp_path / "out"

    def files_while_a_sweep_runs() -> Iterator[Path]:
        yield tmp_path / "x" / "w.onnx"
        assert remove_partial_writes(out, "pkg.zip") == 1  # the zip being written is open, not yet renamed
        yield tmp_path / "y" / "w.onnx"

    with pytest.raises(ModelPackageError, match=re.escape("two files named 'w.onnx' in one package")):
        build_package(files_while_a_sweep_runs(), MODEL, out / "pkg.zip")
    assert list(out.iterdir()) == []
