"""The deployment's persisted state: written atomically, read back, and wary of what it reads."""

from __future__ import annotations

import json
from pathlib import Path

from loop_detector.deployment_state import DeploymentState
from loop_shared.schemas import VersionMode


def test_mode_target_and_served_folder_survive_a_restart(tmp_path: Path) -> None:
    state = DeploymentState(tmp_path / "state.json", VersionMode.FOLLOW_LOOP)
    assert state.target is None and state.current_dir() is None
    state.version_control, state.target = VersionMode.PAUSE, {"id": "m1", "version": "1.0"}
    state.save(current_dir="1.0__m1__onnx")
    state.save()  # without a folder: the served one is kept
    again = DeploymentState(tmp_path / "state.json", VersionMode.FOLLOW_LOOP)
    assert again.version_control == VersionMode.PAUSE and again.target == {"id": "m1", "version": "1.0"}
    assert again.current_dir() == "1.0__m1__onnx"


def test_an_unreadable_or_unsafe_state_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert DeploymentState(path, VersionMode.PAUSE).version_control == VersionMode.PAUSE
    path.write_text(json.dumps({"version_control": "follow_loop", "target": {"id": "../x", "version": "1.0"},
                                "current_dir": "../../etc"}))
    state = DeploymentState(path, VersionMode.PAUSE)
    assert state.target is None and state.current_dir() is None
