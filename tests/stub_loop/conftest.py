"""The stub Loop's app in-process (ASGI), for tests that read its routes, OpenAPI and store without a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from loop_shared.settings import load_settings
from stub_loop.app import create_app
from stub_loop.settings import StubSettings

USER, PASSWORD = "tester", "pw-in-process"


def stub_fastapi(app: Any) -> FastAPI:
    """The FastAPI app inside the stub's Socket.IO wrapper (its routes, OpenAPI and `state`)."""
    inner = getattr(app, "other_asgi_app", app)
    assert isinstance(inner, FastAPI)
    return inner


@pytest.fixture
def stub_app(tmp_path: Path) -> Any:
    return create_app(load_settings(StubSettings, data_dir=tmp_path / "stub", username=USER, password=PASSWORD))
