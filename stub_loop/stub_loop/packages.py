"""Turn uploaded model files into the flat zip the Loop serves, with model.json added or corrected."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from loop_shared.model_package import MODEL_JSON, build_package, extract_package, read_model_json

from .store import Conflict, Store

FORMAT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_format(fmt: str) -> None:
    if not FORMAT_RE.match(fmt):
        raise ValueError(f"invalid model format {fmt!r}: use letters, digits, '_', '-' and '.'")


def save_parts(parts: list[tuple[str, BinaryIO]], directory: Path, max_bytes: int) -> list[Path]:
    """Copy uploaded parts into `directory` under their base names, refusing more than `max_bytes` in all."""
    saved, total = [], 0
    for filename, stream in parts:
        name = Path(filename.replace("\\", "/")).name
        if not name or name in (".", ".."):
            raise ValueError(f"invalid file name {filename!r}")
        target = directory / name
        with open(target, "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        total += target.stat().st_size
        if total > max_bytes:
            raise ValueError(f"upload larger than the limit of {max_bytes // 2**20} MiB")
        saved.append(target)
    return saved


def store_model_format(store: Store, org: str, project: str, model: dict[str, Any], fmt: str,
                       parts: list[tuple[str, BinaryIO]], host: str, max_bytes: int) -> None:
    """Package `parts` (one zip, or loose files plus model.json) as format `fmt` of `model`.

    A single zip is unpacked safely; `model.json` is created when missing (base models need none) and gets
    host, organization, project, version, id and format set by the Loop. Raises Conflict if the format exists.
    """
    check_format(fmt)
    if fmt in model["formats"]:
        raise Conflict(f"model {model['id']} already has format {fmt}", {"id": model["id"]})
    with tempfile.TemporaryDirectory(dir=store.models_dir) as tmp:
        upload_dir, content_dir = Path(tmp, "upload"), Path(tmp, "content")
        upload_dir.mkdir()
        saved = save_parts(parts, upload_dir, max_bytes)
        if not saved:
            raise ValueError("no files uploaded")
        if len(saved) == 1 and saved[0].suffix.lower() == ".zip" and not zipfile.is_zipfile(saved[0]):
            raise ValueError(f"{saved[0].name} is not a valid zip file")
        if len(saved) == 1 and zipfile.is_zipfile(saved[0]):
            extract_package(saved[0], content_dir, require_model_json=False, max_bytes=max_bytes * 4)
        else:
            upload_dir.rename(content_dir)
        model_json = read_model_json(content_dir) if (content_dir / MODEL_JSON).exists() else {}
        model_json.update({"host": host, "organization": org, "project": project, "version": model["version"],
                           "id": model["id"], "format": fmt})
        if "categories" not in model_json:
            model_json["categories"] = store.categories(org, project)
        files = [p for p in sorted(content_dir.rglob("*")) if p.is_file() and p.name != MODEL_JSON]
        build_package(files, model_json, store.model_file(model["id"], fmt))
    store.add_model_format(org, project, model["id"], fmt)
