"""The demo project `LOOP_ORGANIZATION`/`LOOP_PROJECT` (default zauberzeug/demo), seeded when missing.

It holds generated images and a first model, deployed: the colour-grid ONNX detector (see grid_model.py), so a
detector following the demo project answers with detections right away. Trainers then produce real models.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from .generator import GeneratorRequest
from .grid_model import grid_package
from .packages import store_model_format
from .project_factory import generate_project
from .settings import StubSettings
from .store import Store

log = logging.getLogger("stub.demo")


def seed_demo(store: Store, settings: StubSettings) -> None:
    org, project = settings.organization or "zauberzeug", settings.project or "demo"
    if store.project_exists(org, project):
        return
    request = GeneratorRequest(project_name=project, complete=settings.stub_demo_images, inbox=10,
                               box_categories=2, point_categories=1, seed=1)
    generate_project(store, org, request)
    model = store.new_model(org, project, "demo colour-grid model")
    with tempfile.TemporaryDirectory() as tmp:
        package = grid_package(Path(tmp) / "grid.zip", size=320, cell=32)
        with open(package, "rb") as f:
            store_model_format(store, org, project, model, "onnx", [("grid.zip", f)], settings.host,
                               settings.stub_max_upload_mb * 2**20)
    store.set_deployment(org, project, model["id"])
    log.info("seeded demo project %s/%s with model %s deployed", org, project, model["version"])
