"""The demo project `LOOP_ORGANIZATION`/`LOOP_PROJECT` (default zauberzeug/demo), seeded when missing.

It holds generated images of three categories (red circle, blue square, purple point) and a first model,
deployed: the reference trainer's model trained on generated images of those very categories (not the images of
the project, which it has never seen), shipped in `demo_model/` and made by `make demo-model`
(scripts/demo_model.py). A detector following the demo project therefore finds the objects of a demo image right
away (`GET /demo.jpg`); trainers then produce further models.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .packages import store_model_format
from .project_factory import GeneratorRequest, generate_project
from .settings import StubSettings
from .store import Store

log = logging.getLogger("stub.demo")
DEMO_MODEL_DIR = Path(__file__).with_name("demo_model")
DEMO_CATEGORIES = {"box_categories": 2, "point_categories": 1}  # red circle, blue square, purple point
DEMO_SEED = 1


def demo_request(project: str, complete: int) -> GeneratorRequest:
    return GeneratorRequest(project_name=project, complete=complete, inbox=10, seed=DEMO_SEED,
                            box_categories=DEMO_CATEGORIES["box_categories"],
                            point_categories=DEMO_CATEGORIES["point_categories"])


def demo_package(dest_zip: Path, categories: list[dict[str, Any]], model_dir: Path = DEMO_MODEL_DIR) -> Path:
    """The demo model as a package for a project with `categories`: model.json names the project's own
    category ids (matched by name), as a model trained in that project would."""
    info = json.loads((model_dir / "model.json").read_text())
    by_name = {c["name"]: c for c in categories}
    missing = [c["name"] for c in info["categories"] if c["name"] not in by_name]
    if missing:
        raise ValueError(f"the demo model knows categories the project lacks: {missing}")
    info["categories"] = [by_name[c["name"]] for c in info["categories"]]
    with zipfile.ZipFile(dest_zip, "w") as archive:
        archive.write(model_dir / "model.onnx", "model.onnx")
        archive.writestr("model.json", json.dumps(info))
    return dest_zip


def seed_demo(store: Store, settings: StubSettings, model_dir: Path = DEMO_MODEL_DIR) -> None:
    org, project = settings.organization or "zauberzeug", settings.project or "demo"
    if store.project_exists(org, project):
        return
    generate_project(store, org, demo_request(project, settings.stub_demo_images))
    model = store.new_model(org, project, "demo model (reference trainer, make demo-model)")
    with tempfile.TemporaryDirectory() as tmp:
        package = demo_package(Path(tmp) / "demo.zip", store.categories(org, project), model_dir)
        with open(package, "rb") as f:
            store_model_format(store, org, project, model, "onnx", [("demo.zip", f)], settings.host,
                               settings.stub_max_upload_mb * 2**20)
    store.set_deployment(org, project, model["id"])
    log.info("seeded demo project %s/%s with model %s deployed", org, project, model["version"])
