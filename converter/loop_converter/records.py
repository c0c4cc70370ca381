"""What the converter knows about each model: converted, or failed with a reason and a retry time.

Kept in `LOOP_DATA_DIR/conversions.json`, written atomically, so failures and their backoff survive a restart.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from loop_shared.model_package import remove_partial_writes, write_json_atomic


class Records:
    def __init__(self, path: Path, retry_base: float, retry_cap: float) -> None:
        self.path, self.retry_base, self.retry_cap = path, retry_base, retry_cap
        remove_partial_writes(path.parent, path.name)
        try:
            self.items: dict[str, dict[str, Any]] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.items = {}

    @staticmethod
    def key(org: str, project: str, model_id: str, target: str) -> str:
        return f"{org}/{project}/{model_id}/{target}"

    def due(self, key: str, now: float | None = None) -> bool:
        record = self.items.get(key)
        if record is None:
            return True
        if record["status"] == "converted":
            return False
        return (now or time.time()) >= float(record["next_attempt"])

    def converted(self, key: str, version: str, figures: dict[str, Any] | None = None) -> None:
        self.items[key] = {"status": "converted", "version": version, "at": time.time(), "accuracy": figures}
        self._save()

    def failed(self, key: str, version: str, reason: str, figures: dict[str, Any] | None = None) -> float:
        attempts = self.items.get(key, {}).get("attempts", 0) + 1
        delay = min(self.retry_cap, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.0)
        self.items[key] = {"status": "failed", "version": version, "reason": reason, "attempts": attempts,
                           "next_attempt": time.time() + delay, "accuracy": figures}
        self._save()
        return float(delay)

    def _save(self) -> None:
        write_json_atomic(self.path, self.items)
