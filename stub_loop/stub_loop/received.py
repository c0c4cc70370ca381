"""What arrived on the wire, counted before anything is deduplicated: every image and every model-format upload.

The store keeps an image once and a model format once (a repeat is acknowledged, or answered 409), so what it
holds cannot show a node that sent something twice. These counters can: each image part pair a detector sends
(keyed by its identifier and a digest of its JPEG, so two detectors that happen to pick the same identifier are
not taken for one), each model-format upload (keyed by model and format), however the stub answered it, each
image's detections a trainer sends, and each segmentation annotation an annotation node sends (with the polygon that
arrived and whether the stub stored it). They live in their own table of the stub's SQLite file, so they survive
a restart of the stub like its state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .store import now_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (kind TEXT, org TEXT, project TEXT, key TEXT, detail TEXT, count INTEGER,
    first TEXT, last TEXT, PRIMARY KEY (kind, org, project, key));
"""
UPSERT = ("INSERT INTO received VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (kind, org, project, key) "
          "DO UPDATE SET count = count + 1, last = excluded.last")
UPSERT_LATEST = UPSERT + ", detail = excluded.detail"
IMAGE, MODEL, DETECTIONS, ANNOTATION = "image", "model", "detections", "segmentation_annotation"


class ReceivedCounts:
    """Thread-safe, blocking (a short SQLite write per request): call it off the event loop."""

    def __init__(self, data_dir: Path) -> None:
        self._db = sqlite3.connect(data_dir / "loop.sqlite3", check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count(self, kind: str, org: str, project: str, keys: Iterable[tuple[str, str]],
               latest_detail: bool = False) -> None:
        """One arrival of each key; `latest_detail` keeps the detail of the last arrival instead of the first."""
        sql = UPSERT_LATEST if latest_detail else UPSERT
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for key, detail in keys:
                    now = now_iso()
                    self._db.execute(sql, (kind, org, project, key, detail, now, now))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def image_parts(self, org: str, project: str, items: Iterable[tuple[str, str]]) -> None:
        """Count one arrival of each (identifier, sha256 of the JPEG) of one upload request."""
        self._count(IMAGE, org, project, ((f"{identifier}#{digest[:16]}", identifier) for identifier, digest in items))

    def model_format(self, org: str, project: str, model_id: str, fmt: str) -> None:
        self._count(MODEL, org, project, [(f"{model_id}/{fmt}", fmt)])

    def detections(self, org: str, project: str, image_ids: Iterable[str]) -> None:
        """Count one arrival of the detections of each image of one detections request."""
        self._count(DETECTIONS, org, project, ((image_id, image_id) for image_id in image_ids))

    def segmentation_annotation(self, org: str, project: str, annotation: dict[str, Any], refused: str | None) -> None:
        """Count one arrival of an annotation node's `update_segmentation_annotation`, keyed by the annotation's id,
        with what arrived (image, category, polygon) and why the stub refused it (None: stored)."""
        detail = {"image_id": annotation.get("image_id"), "category_id": annotation.get("category_id"),
                  "points": (annotation.get("shape") or {}).get("points") if isinstance(annotation.get("shape"), dict)
                  else None, "refused": refused}
        self._count(ANNOTATION, org, project, [(str(annotation.get("id")), json.dumps(detail))], latest_detail=True)

    def _rows(self, kind: str, org: str | None, project: str | None, repeated: bool) -> list[sqlite3.Row]:
        sql = "SELECT * FROM received WHERE kind = ?"
        args: list[Any] = [kind]
        for column, value in (("org", org), ("project", project)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if repeated:
            sql += " AND count > 1"
        with self._lock:
            return self._db.execute(sql + " ORDER BY rowid", args).fetchall()

    def listing(self, org: str | None = None, project: str | None = None, repeated: bool = False) -> dict[str, Any]:
        images = [{"organization": r["org"], "project": r["project"], "identifier": r["detail"],
                   "sha256": r["key"].rpartition("#")[2], "count": r["count"], "first": r["first"], "last": r["last"]}
                  for r in self._rows(IMAGE, org, project, repeated)]
        models = [{"organization": r["org"], "project": r["project"], "model_id": r["key"].rpartition("/")[0],
                   "format": r["detail"], "count": r["count"], "first": r["first"], "last": r["last"]}
                  for r in self._rows(MODEL, org, project, repeated)]
        detections = [{"organization": r["org"], "project": r["project"], "image_id": r["key"], "count": r["count"],
                       "first": r["first"], "last": r["last"]} for r in self._rows(DETECTIONS, org, project, repeated)]
        annotations = [{"organization": r["org"], "project": r["project"], "annotation_id": r["key"],
                        **json.loads(r["detail"]), "count": r["count"], "first": r["first"], "last": r["last"]}
                       for r in self._rows(ANNOTATION, org, project, repeated)]
        return {"images": images, "models": models, "detections": detections,
                "segmentation_annotations": annotations,
                "summary": {"images": summary(images), "model_formats": summary(models),
                            "detections": summary(detections), "segmentation_annotations": summary(annotations)}}

    def totals(self) -> list[tuple[str, str, str, str, int, int]]:
        """(kind, org, project, format or "", uploads received, received more than once) for /metrics."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, org, project, CASE kind WHEN 'model' THEN detail ELSE '' END AS fmt, SUM(count) AS n, "
                "SUM(count - 1) AS extra FROM received GROUP BY kind, org, project, fmt").fetchall()
        return [(r["kind"], r["org"], r["project"], r["fmt"], r["n"], r["extra"]) for r in rows]


def summary(entries: list[dict[str, Any]]) -> dict[str, int]:
    """How many arrived, how many distinct things that was, and how many arrivals were repeats."""
    received = sum(e["count"] for e in entries)
    return {"received": received, "distinct": len(entries), "repeats": received - len(entries)}


class ReceivedCollector(Collector):
    def __init__(self, counts: ReceivedCounts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Any]:
        labels = ["organization", "project"]
        images = CounterMetricFamily("loop_stub_received_images", "Images that arrived in upload requests, "
                                     "repeats included", labels=labels)
        image_repeats = GaugeMetricFamily("loop_stub_received_image_repeats", "Arrivals of an image the stub had "
                                          "received before (same identifier and content)", labels=labels)
        models = CounterMetricFamily("loop_stub_received_model_uploads", "Model-format uploads that arrived, "
                                     "repeats and refused ones included", labels=[*labels, "format"])
        model_repeats = GaugeMetricFamily("loop_stub_received_model_upload_repeats", "Uploads of a model format "
                                          "the stub had received before", labels=[*labels, "format"])
        detections = CounterMetricFamily("loop_stub_received_detections", "Images whose detections arrived in "
                                         "detections requests, repeats included", labels=labels)
        detection_repeats = GaugeMetricFamily("loop_stub_received_detection_repeats", "Arrivals of detections for "
                                              "an image whose detections had arrived before", labels=labels)
        annotations = CounterMetricFamily("loop_stub_received_segmentation_annotations", "Segmentation annotations "
                                          "annotation nodes sent, repeats and refused ones included", labels=labels)
        for kind, org, project, fmt, n, extra in self.counts.totals():
            if kind == IMAGE:
                images.add_metric([org, project], n)
                image_repeats.add_metric([org, project], extra)
            elif kind == MODEL:
                models.add_metric([org, project, fmt], n)
                model_repeats.add_metric([org, project, fmt], extra)
            elif kind == DETECTIONS:
                detections.add_metric([org, project], n)
                detection_repeats.add_metric([org, project], extra)
            elif kind == ANNOTATION:
                annotations.add_metric([org, project], n)
        yield from (images, image_repeats, models, model_repeats, detections, detection_repeats, annotations)
