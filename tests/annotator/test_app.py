"""The annotator's composition (loop_annotator/app.py): the plugin check at start-up and the routes it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loop_annotator.app import create_app
from loop_annotator.settings import AnnotatorSettings
from loop_shared.errors import PluginImportError, PluginTypeError


def settings(tmp_path: Path, **extra: Any) -> AnnotatorSettings:
    return AnnotatorSettings(host="127.0.0.1:9", data_dir=tmp_path, **extra)


def test_the_plugin_is_checked_at_start_up_with_two_distinct_errors(tmp_path: Path) -> None:
    with pytest.raises(PluginImportError, match=r"LOOP_ANNOTATOR_LOGIC=.*cannot import 'no_such_module'"):
        create_app(settings(tmp_path, annotator_logic="no_such_module:Tool"))
    with pytest.raises(PluginTypeError, match="Histories does not implement AnnotatorLogic"):
        create_app(settings(tmp_path, annotator_logic="loop_annotator.histories:Histories"))
    with pytest.raises(PluginTypeError, match="abstract methods left: create_empty_history, handle_user_input"):
        create_app(settings(tmp_path, annotator_logic="loop_annotator.logic:AnnotatorLogic"))


def test_without_the_loop_it_is_alive_not_ready_and_shows_its_bounds(tmp_path: Path) -> None:
    client = TestClient(create_app(settings(tmp_path, max_histories=7)))  # no lifespan: never connects
    assert client.get("/health").json() == {"status": "alive"}
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["reason"] == "not connected to the Loop"
    status = client.get("/status").json()
    assert status["capabilities"] == ["segmentation"] and status["logic"] == "GrabCutTool"
    assert status["connected"] is False and status["bounds"]["max_histories"] == 7
    assert client.get("/activity").json() == {"recent": []}
    assert "loop_annotator_events_total" in client.get("/metrics").text
    assert client.get("/").status_code == 200 and "annotator.js" in client.get("/").text
