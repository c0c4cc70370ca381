"""Counts over the stub Loop's SQLite store, for its page and its `/metrics` (enough to watch an e2e run).

A read-only connection of its own (the store runs in WAL mode, so readers never block its writers), queried
when a page or a scrape asks; nothing is counted in passing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .trainer_hub import TrainerHub

P = "loop_stub"


class StoreStats:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "loop.sqlite3"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            if self._db is None:  # opened on first use: the store creates the file
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
                self._db.row_factory = sqlite3.Row
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def image_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """(org, project) -> images per state, plus `with_detections` (images a trainer detected on)."""
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("SELECT org, project, state, COUNT(*) AS n, "
                            "SUM(json_extract(data, '$.detections_updated') IS NOT NULL) AS detected "
                            "FROM images GROUP BY org, project, state"):
            entry = counts.setdefault((r["org"], r["project"]), {"with_detections": 0})
            entry[r["state"]] = r["n"]
            entry["with_detections"] += r["detected"] or 0
        return counts

    def training_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("SELECT org, project, state, COUNT(*) AS n FROM trainings GROUP BY org, project, state"):
            counts.setdefault((r["org"], r["project"]), {})[r["state"]] = r["n"]
        return counts

    def model_formats(self) -> dict[tuple[str, str], dict[str, int]]:
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("SELECT org, project, value AS format, COUNT(*) AS n "
                            "FROM models, json_each(models.formats) GROUP BY org, project, value"):
            counts.setdefault((r["org"], r["project"]), {})[r["format"]] = r["n"]
        return counts

    def model_counts(self) -> dict[tuple[str, str], int]:
        return {(r["org"], r["project"]): r["n"] for r in
                self._rows("SELECT org, project, COUNT(*) AS n FROM models GROUP BY org, project")}

    def deployed(self) -> dict[tuple[str, str], str]:
        return {(r["org"], r["project"]): r["version"] for r in
                self._rows("SELECT d.org, d.project, m.version FROM deployments d JOIN models m ON m.id = d.model_id")}

    def detector_counts(self) -> dict[tuple[str, str], int]:
        return {(r["org"], r["project"]): r["n"] for r in
                self._rows("SELECT org, project, COUNT(*) AS n FROM detectors GROUP BY org, project")}


class StubCollector(Collector):
    def __init__(self, stats: StoreStats, hub: TrainerHub) -> None:
        self.stats, self.hub = stats, hub

    def collect(self) -> Iterator[Any]:
        labels = ["organization", "project"]
        images = GaugeMetricFamily(f"{P}_images", "Images per project and state (with_detections: images a "
                                   "trainer uploaded detections for)", labels=[*labels, "state"])
        for (org, project), states in self.stats.image_counts().items():
            for state, n in states.items():
                images.add_metric([org, project, state], n)
        yield images
        trainings = GaugeMetricFamily(f"{P}_trainings", "Trainings per project and state", labels=[*labels, "state"])
        for (org, project), states in self.stats.training_counts().items():
            for state, n in states.items():
                trainings.add_metric([org, project, state], n)
        yield trainings
        models = GaugeMetricFamily(f"{P}_models", "Model versions per project", labels=labels)
        for (org, project), n in self.stats.model_counts().items():
            models.add_metric([org, project], n)
        yield models
        formats = GaugeMetricFamily(f"{P}_model_formats", "Models available in each format", labels=[*labels, "format"])
        for (org, project), by_format in self.stats.model_formats().items():
            for fmt, n in by_format.items():
                formats.add_metric([org, project, fmt], n)
        yield formats
        deployed = GaugeMetricFamily(f"{P}_deployment_info", "The deployment target of each project",
                                     labels=[*labels, "version"])
        for (org, project), version in self.stats.deployed().items():
            deployed.add_metric([org, project, version], 1)
        yield deployed
        detectors = GaugeMetricFamily(f"{P}_detectors", "Detectors that reported their status", labels=labels)
        for (org, project), n in self.stats.detector_counts().items():
            detectors.add_metric([org, project], n)
        yield detectors
        nodes = GaugeMetricFamily(f"{P}_connected_nodes", "Socket.IO connections by node type", labels=["type"])
        by_type: dict[str, int] = {}
        for connection in list(self.hub.connections.values()):
            by_type[connection.node_type or "unknown"] = by_type.get(connection.node_type or "unknown", 0) + 1
        for node_type, n in by_type.items():
            nodes.add_metric([node_type], n)
        yield nodes
