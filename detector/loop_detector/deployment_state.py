"""What the detector remembers across restarts: the version-control mode, the target, the model it served.

`detector_state.json` in the data dir, written atomically. Replicas may share the data dir, so leftovers of
killed writes are deleted only when nobody has touched them for a while. Ids and versions in it become directory
names, so they pass `loop_shared.names` again when read.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from loop_shared.model_package import SHARED_VOLUME_GRACE, remove_partial_writes, write_json_atomic
from loop_shared.names import is_safe_name, safe_name
from loop_shared.schemas import VersionMode

log = logging.getLogger("detector.deployment")
Target = dict[str, str]  # {"id": model id, "version": version}


class DeploymentState:
    def __init__(self, path: Path, version_control: VersionMode) -> None:
        self.path = path
        self.version_control = version_control
        self.target: Target | None = None
        self._load()

    def _load(self) -> None:
        remove_partial_writes(self.path.parent, self.path.name, older_than=SHARED_VOLUME_GRACE)
        try:
            state = json.loads(self.path.read_text())
            self.version_control = VersionMode(state.get("version_control", self.version_control))
            target = state.get("target")
            if target is not None:
                self.target = {"id": safe_name(target["id"], "model id"),
                               "version": safe_name(target["version"], "model version")}
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, KeyError) as e:
            log.warning("ignoring unreadable %s: %s", self.path, e)

    def save(self, current_dir: str | None = None) -> None:
        """Persist the mode and the target; `current_dir` (the served model's folder) only when given."""
        state: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            state = json.loads(self.path.read_text())
        state.update({"version_control": self.version_control.value, "target": self.target})
        if current_dir is not None:
            state["current_dir"] = current_dir
        write_json_atomic(self.path, state)

    def current_dir(self) -> str | None:
        """The folder (below models/) of the model served last, if it is a plain name."""
        try:
            current = json.loads(self.path.read_text()).get("current_dir")
        except (FileNotFoundError, ValueError):
            return None
        return current if isinstance(current, str) and is_safe_name(current) else None
