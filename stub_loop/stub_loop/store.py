"""The stub Loop's state: records in SQLite, image and model files on disk, all under `LOOP_DATA_DIR`.

Every method is synchronous and short; routes that call them run in FastAPI's thread pool and socket handlers
wrap them in `asyncio.to_thread`, so the event loop never waits on the disk.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (org TEXT, project TEXT, created TEXT, PRIMARY KEY (org, project));
CREATE TABLE IF NOT EXISTS categories (id TEXT PRIMARY KEY, org TEXT, project TEXT, position INTEGER,
    data TEXT);
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, org TEXT, project TEXT, state TEXT, upload_key TEXT,
    created TEXT, data TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS images_upload_key ON images (org, project, upload_key);
CREATE INDEX IF NOT EXISTS images_state ON images (org, project, state);
CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, org TEXT, project TEXT, version TEXT, created TEXT,
    comment TEXT, training_number INTEGER, formats TEXT);
CREATE TABLE IF NOT EXISTS deployments (org TEXT, project TEXT, model_id TEXT, PRIMARY KEY (org, project));
CREATE TABLE IF NOT EXISTS detectors (uuid TEXT PRIMARY KEY, org TEXT, project TEXT, updated TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS trainings (id TEXT PRIMARY KEY, org TEXT, project TEXT, number INTEGER,
    trainer_id TEXT, state TEXT, created TEXT, updated TEXT, model_id TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, username TEXT, created TEXT);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class NotFound(Exception):
    """A project, image, model or training does not exist."""


class Conflict(Exception):
    """The request collides with what is stored (e.g. a model format that already exists)."""

    def __init__(self, message: str, payload: Any = None) -> None:
        super().__init__(message)
        self.payload = payload


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.images_dir = data_dir / "images"
        self.models_dir = data_dir / "models"
        for d in (self.images_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "loop.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # sessions -------------------------------------------------------------------------------------------------
    def create_session(self, username: str) -> str:
        token = uuid.uuid4().hex
        with self._tx() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (token, username, now_iso()))
        return token

    def session_valid(self, token: str) -> bool:
        return bool(self._rows("SELECT 1 FROM sessions WHERE token = ?", token))

    def delete_session(self, token: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    # projects and categories ----------------------------------------------------------------------------------
    def create_project(self, org: str, project: str, categories: list[dict[str, Any]]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO projects VALUES (?, ?, ?)", (org, project, now_iso()))
            db.execute("DELETE FROM categories WHERE org = ? AND project = ?", (org, project))
            for i, cat in enumerate(categories):
                db.execute("INSERT INTO categories VALUES (?, ?, ?, ?, ?)",
                           (cat["id"], org, project, i, json.dumps(cat)))

    def delete_project(self, org: str, project: str, keep_images: bool = False) -> None:
        ids = [r["id"] for r in self._rows("SELECT id FROM images WHERE org = ? AND project = ?", org, project)]
        models = [r["id"] for r in self._rows("SELECT id FROM models WHERE org = ? AND project = ?", org, project)]
        with self._tx() as db:
            for table in ("projects", "categories", "images", "models", "deployments", "detectors", "trainings"):
                db.execute(f"DELETE FROM {table} WHERE org = ? AND project = ?", (org, project))  # noqa: S608
        if not keep_images:
            for image_id in ids:
                (self.images_dir / f"{image_id}.jpg").unlink(missing_ok=True)
        for model_id in models:
            shutil.rmtree(self.models_dir / model_id, ignore_errors=True)

    def projects(self) -> list[tuple[str, str]]:
        return [(r["org"], r["project"]) for r in self._rows("SELECT org, project FROM projects ORDER BY org")]

    def project_exists(self, org: str, project: str) -> bool:
        return bool(self._rows("SELECT 1 FROM projects WHERE org = ? AND project = ?", org, project))

    def require_project(self, org: str, project: str) -> None:
        if not self.project_exists(org, project):
            raise NotFound(f"project {org}/{project} does not exist")

    def categories(self, org: str, project: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT data FROM categories WHERE org = ? AND project = ? ORDER BY position",
                          org, project)
        return [json.loads(r["data"]) for r in rows]

    # images ---------------------------------------------------------------------------------------------------
    def image_path(self, image_id: str) -> Path:
        return self.images_dir / f"{image_id}.jpg"

    def add_image(self, org: str, project: str, jpeg: bytes, data: dict[str, Any],
                  upload_key: str | None = None) -> tuple[str, bool]:
        """Store an image; returns (id, created). An already seen upload_key is not stored twice."""
        if upload_key is not None:
            rows = self._rows("SELECT id FROM images WHERE org = ? AND project = ? AND upload_key = ?",
                              org, project, upload_key)
            if rows:
                return rows[0]["id"], False
        image_id = data.get("id") or str(uuid.uuid4())
        data = {**data, "id": image_id}
        path = self.image_path(image_id)
        tmp = path.with_suffix(".jpg.tmp")
        tmp.write_bytes(jpeg)
        tmp.replace(path)
        with self._tx() as db:
            db.execute("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (image_id, org, project, data.get("state", "inbox"), upload_key,
                        data.get("created") or now_iso(), json.dumps(data)))
        return image_id, True

    def image_ids(self, org: str, project: str, state: str | None) -> list[str]:
        if state:
            rows = self._rows("SELECT id FROM images WHERE org = ? AND project = ? AND state = ? ORDER BY rowid",
                              org, project, state)
        else:
            rows = self._rows("SELECT id FROM images WHERE org = ? AND project = ? ORDER BY rowid", org, project)
        return [r["id"] for r in rows]

    def images(self, org: str, project: str, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._rows(f"SELECT data FROM images WHERE org = ? AND project = ? AND id IN ({marks})",  # noqa: S608
                          org, project, *ids)
        by_id = {d["id"]: d for d in (json.loads(r["data"]) for r in rows)}
        return [by_id[i] for i in ids if i in by_id]

    def image_in_project(self, org: str, project: str, image_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM images WHERE org = ? AND project = ? AND id = ?",
                               org, project, image_id))

    def set_detections(self, org: str, project: str, image_id: str, detections: dict[str, Any]) -> bool:
        rows = self._rows("SELECT data FROM images WHERE org = ? AND project = ? AND id = ?", org, project, image_id)
        if not rows:
            return False
        data = json.loads(rows[0]["data"])
        data.update(detections)
        data["detections_updated"] = now_iso()
        with self._tx() as db:
            db.execute("UPDATE images SET data = ? WHERE id = ?", (json.dumps(data), image_id))
        return True

    def put_segmentation_annotation(self, org: str, project: str, annotation: dict[str, Any]) -> bool:
        """Add the annotation to its image's `segmentation_annotations` (replacing one with the same id) in one
        transaction; False when the image is not in the project."""
        with self._tx() as db:
            row = db.execute("SELECT data FROM images WHERE org = ? AND project = ? AND id = ?",
                             (org, project, annotation["image_id"])).fetchone()
            if row is None:
                return False
            data = json.loads(row["data"])
            kept = [a for a in data.get("segmentation_annotations") or [] if a.get("id") != annotation["id"]]
            data["segmentation_annotations"] = [*kept, annotation]
            db.execute("UPDATE images SET data = ? WHERE id = ?", (json.dumps(data), annotation["image_id"]))
        return True

    def image_record(self, org: str, project: str, image_id: str) -> dict[str, Any] | None:
        rows = self.images(org, project, [image_id])
        return rows[0] if rows else None

    # models ---------------------------------------------------------------------------------------------------
    def model_file(self, model_id: str, fmt: str) -> Path:
        return self.models_dir / model_id / f"{fmt}.zip"

    def _model_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "version": row["version"], "formats": json.loads(row["formats"]),
                "created": row["created"], "comment": row["comment"], "training_number": row["training_number"],
                "organization": row["org"], "project": row["project"]}

    def new_model(self, org: str, project: str, comment: str, training_number: int | None = None) -> dict[str, Any]:
        """Create a model record with the project's next version ("1.0", "1.1", ...), no formats yet."""
        with self._tx() as db:
            count = db.execute("SELECT COUNT(*) FROM models WHERE org = ? AND project = ?",
                               (org, project)).fetchone()[0]
            model_id, version = str(uuid.uuid4()), f"1.{count}"
            db.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (model_id, org, project, version, now_iso(), comment, training_number, "[]"))
        return self.model(org, project, model_id)

    def add_model_format(self, org: str, project: str, model_id: str, fmt: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT formats FROM models WHERE id = ? AND org = ? AND project = ?",
                             (model_id, org, project)).fetchone()
            if row is None:
                raise NotFound(f"model {model_id} does not exist in {org}/{project}")
            formats = json.loads(row["formats"])
            if fmt in formats:
                raise Conflict(f"model {model_id} already has format {fmt}", {"id": model_id})
            db.execute("UPDATE models SET formats = ? WHERE id = ?", (json.dumps([*formats, fmt]), model_id))

    def delete_model(self, org: str, project: str, model_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM models WHERE id = ? AND org = ? AND project = ?", (model_id, org, project))
        shutil.rmtree(self.models_dir / model_id, ignore_errors=True)

    def model(self, org: str, project: str, model_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM models WHERE id = ? AND org = ? AND project = ?", model_id, org, project)
        if not rows:
            raise NotFound(f"model {model_id} does not exist in {org}/{project}")
        return self._model_dict(rows[0])

    def models(self, org: str, project: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM models WHERE org = ? AND project = ? ORDER BY rowid", org, project)
        return [self._model_dict(r) for r in rows]

    # deployment -----------------------------------------------------------------------------------------------
    def set_deployment(self, org: str, project: str, model_id: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO deployments VALUES (?, ?, ?)", (org, project, model_id))

    def deployment(self, org: str, project: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT model_id FROM deployments WHERE org = ? AND project = ?", org, project)
        return self.model(org, project, rows[0]["model_id"]) if rows else None

    # detectors ------------------------------------------------------------------------------------------------
    def put_detector(self, org: str, project: str, status: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO detectors VALUES (?, ?, ?, ?, ?)",
                       (status["uuid"], org, project, now_iso(), json.dumps(status)))

    def detectors(self, org: str, project: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT updated, data FROM detectors WHERE org = ? AND project = ?", org, project)
        return [{**json.loads(r["data"]), "last_seen": r["updated"]} for r in rows]

    # trainings ------------------------------------------------------------------------------------------------
    def _training_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "organization": row["org"], "project": row["project"], "number": row["number"],
                "trainer_id": row["trainer_id"], "state": row["state"], "created": row["created"],
                "updated": row["updated"], "model_id": row["model_id"], **json.loads(row["data"])}

    def new_training(self, org: str, project: str, trainer_id: str, details: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as db:
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM trainings WHERE org = ? AND project = ?",
                                (org, project)).fetchone()[0]
            training_id = str(uuid.uuid4())
            data = {"details": {**details, "training_number": number, "id": training_id}, "status": None,
                    "metrics": None, "error": None}
            db.execute("INSERT INTO trainings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (training_id, org, project, number, trainer_id, "requested", now_iso(), now_iso(), None,
                        json.dumps(data)))
        return self.training(org, project, number)

    def training(self, org: str, project: str, number: int) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM trainings WHERE org = ? AND project = ? AND number = ?", org, project, number)
        if not rows:
            raise NotFound(f"training {number} does not exist in {org}/{project}")
        return self._training_dict(rows[0])

    def trainings(self, org: str, project: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM trainings WHERE org = ? AND project = ? ORDER BY number", org, project)
        return [self._training_dict(r) for r in rows]

    def active_training_of(self, trainer_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM trainings WHERE trainer_id = ? AND state NOT IN "
                          "('done', 'failed', 'aborted') ORDER BY number DESC LIMIT 1", trainer_id)
        return self._training_dict(rows[0]) if rows else None

    def update_training(self, training_id: str, *, state: str | None = None, model_id: str | None = None,
                        **data: Any) -> None:
        with self._tx() as db:
            row = db.execute("SELECT state, model_id, data FROM trainings WHERE id = ?", (training_id,)).fetchone()
            if row is None:
                raise NotFound(f"training {training_id} does not exist")
            merged = {**json.loads(row["data"]), **data}
            if "metrics" in data:  # the last 500 metrics updates are kept: the page draws them over the epochs
                kept = merged.get("metrics_history", [])[-499:]
                merged["metrics_history"] = [*kept, {**data["metrics"], "at": now_iso()}]
            db.execute("UPDATE trainings SET state = ?, model_id = ?, updated = ?, data = ? WHERE id = ?",
                       (state or row["state"], model_id or row["model_id"], now_iso(), json.dumps(merged),
                        training_id))
