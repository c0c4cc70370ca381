"""A node's stable identity: a uuid kept in `LOOP_DATA_DIR/uuids.json`, created on first start."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .model_package import SHARED_VOLUME_GRACE, remove_partial_writes, write_json_atomic


def node_uuid(data_dir: Path, name: str) -> str:
    path = data_dir / "uuids.json"
    key = name.lower().replace(" ", "_")
    remove_partial_writes(data_dir, path.name, older_than=SHARED_VOLUME_GRACE)  # replicas may share data_dir
    try:
        known = json.loads(path.read_text())
        if not isinstance(known, dict):
            known = {}
    except (FileNotFoundError, json.JSONDecodeError):
        known = {}
    if key not in known:
        known[key] = str(uuid.uuid4())
        write_json_atomic(path, known)
    return str(known[key])
