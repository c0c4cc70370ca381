"""The model package: a flat zip of model files plus `model.json`, the currency between nodes.

Reading a package never trusts the archive: absolute paths, `..`, links, too many entries and archives that
unpack to more than a size limit are refused before anything is written.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from .errors import ModelPackageError
from .schemas import ModelInformation

MODEL_JSON = "model.json"
DEFAULT_MAX_UNPACKED_BYTES = 2 * 1024**3
DEFAULT_MAX_ENTRIES = 10_000
SHARED_VOLUME_GRACE = 3600.0  # seconds: a partial write untouched this long on a shared volume has no writer left
# what tempfile.mkstemp(prefix=f".{name}.") makes: a hidden name, a dot, eight random characters (and a suffix)
_PARTIAL_WRITE = re.compile(r"\..+\.[a-z0-9_]{8}(\.[a-z0-9]+)?")


def _checked_members(archive: zipfile.ZipFile, max_bytes: int, max_entries: int) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > max_entries:
        raise ModelPackageError(f"zip has {len(members)} entries, more than the limit of {max_entries}")
    total = 0
    for info in members:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
            raise ModelPackageError(f"zip entry {name!r} has an absolute path")
        if ".." in path.parts:
            raise ModelPackageError(f"zip entry {name!r} leaves the package directory")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ModelPackageError(f"zip entry {name!r} is a link")
        total += info.file_size
        if total > max_bytes:
            raise ModelPackageError(f"zip unpacks to more than the limit of {max_bytes} bytes")
    return members


def _flatten_single_top_dir(root: Path) -> None:
    """A zip made of one folder (`zip -r model.zip mymodel/`) is served flat, as the Loop expects."""
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and not (root / MODEL_JSON).exists():
        inner = entries[0]
        for child in list(inner.iterdir()):
            child.rename(root / child.name)
        inner.rmdir()


def extract_package(zip_path: Path, dest: Path, *, require_model_json: bool = True,
                    max_bytes: int = DEFAULT_MAX_UNPACKED_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES) -> Path:
    """Unpack `zip_path` into the new directory `dest`, atomically (staged beside it, then renamed).

    Raises ModelPackageError for a bad, unsafe or oversized zip, and for a missing `model.json` when required.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                members = _checked_members(archive, max_bytes, max_entries)
                for info in members:
                    target = staging / PurePosixPath(info.filename.replace("\\", "/"))
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1024 * 1024)
        except (zipfile.BadZipFile, EOFError) as e:
            raise ModelPackageError(f"not a valid zip file: {e}") from e
        _flatten_single_top_dir(staging)
        if require_model_json and not (staging / MODEL_JSON).is_file():
            raise ModelPackageError(f"the package has no {MODEL_JSON}")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
        return dest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_model_json(directory: Path) -> dict[str, Any]:
    path = directory / MODEL_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelPackageError(f"the package has no {MODEL_JSON}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelPackageError(f"{MODEL_JSON} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ModelPackageError(f"{MODEL_JSON} must hold a JSON object")
    return data


def read_model_info(directory: Path) -> ModelInformation:
    """Parse `model.json` of an unpacked package, with errors that say which field is wrong."""
    data = read_model_json(directory)
    try:
        return ModelInformation.model_validate(data)
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ModelPackageError(f"{MODEL_JSON} is invalid: {fields}") from e


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(directory: Path, name: str | None = None, older_than: float = 0.0) -> int:
    """Delete the temporary files that writes into `directory` left when their process was killed between
    creating and renaming them (`write_json_atomic`, `build_package`, downloads, checkpoints all write
    `.<name>.<random>` first); only those of `name` when given. Call at start-up, before this process writes
    there itself. Where other processes may be writing into `directory` at the same time (a volume that
    replicas share), pass `older_than`: only files untouched for that many seconds go. Returns how many
    were deleted."""
    cutoff = time.time() - older_than
    removed = 0
    for leftover in directory.glob(f".{glob.escape(name)}.*" if name else ".*.*"):
        if not _PARTIAL_WRITE.fullmatch(leftover.name):
            continue
        with contextlib.suppress(FileNotFoundError):  # renamed or removed by its writer meanwhile
            info = leftover.stat()
            if stat.S_ISREG(info.st_mode) and (older_than <= 0 or info.st_mtime < cutoff):
                leftover.unlink()
                removed += 1
    return removed


def build_package(files: Iterable[Path], model_json: dict[str, Any] | None, dest_zip: Path) -> Path:
    """Zip `files` flat (by base name) with `model_json` as `model.json`; written atomically to `dest_zip`."""
    dest_zip.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest_zip.name}.", dir=dest_zip.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            seen: set[str] = set()
            for file in files:
                name = Path(file).name
                if name == MODEL_JSON and model_json is not None:
                    continue
                if name in seen:
                    raise ModelPackageError(f"two files named {name!r} in one package")
                seen.add(name)
                archive.write(file, name)
            if model_json is not None:
                archive.writestr(MODEL_JSON, json.dumps(model_json, indent=1))
            elif MODEL_JSON not in seen:
                raise ModelPackageError(f"a package needs a {MODEL_JSON}")
        os.replace(tmp, dest_zip)
        return dest_zip
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
