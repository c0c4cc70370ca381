"""What the stub Loop's page at `/` reads, its metrics, and the demo image for the README's first curl.

The `/ui/...` routes are read-only views for people (no login, like the stub's management routes); the
node-facing API under `/api` is unchanged. `GET /demo.jpg` is a test-set image of the demo project, one the demo
model never trained on, and `GET /demo.json` its annotations (the truth a detection can be compared with).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse
from prometheus_client import CollectorRegistry

from loop_shared.loop_api import LoopImage
from loop_shared.node_errors import error_responses
from loop_shared.pages import install_pages

from ..deps import SettingsDep, StoreDep
from ..schemas import ImagePage, ProjectPage, ProjectSummaries
from ..stats import StoreStats, StubCollector
from ..store import NotFound, Store
from ..trainer_hub import TrainerHub

router = APIRouter(tags=["pages (stub only)"], responses=error_responses(404))
STATES = ("inbox", "annotate", "review", "complete")
FIGURES = ("map50", "metrics", "conversion", "resolution", "architecture")


def install(app: FastAPI, store: Store, hub: TrainerHub) -> None:
    """The page at `/`, `/docs` offline, the `/ui` views, the metrics registry and the demo image."""
    app.state.stats = StoreStats(store.root)
    app.state.registry = CollectorRegistry()  # served at /metrics by routes/health.py
    app.state.registry.register(StubCollector(app.state.stats, hub))
    app.include_router(router)
    install_pages(app, Path(__file__).parents[1] / "static")


def _stats(request: Request) -> StoreStats:
    stats: StoreStats = request.app.state.stats
    return stats


def _model_figures(store: Store, model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per format, what its model.json says about the model's quality (map50, metrics, conversion...)."""
    figures: dict[str, dict[str, Any]] = {}
    for fmt in model["formats"]:
        try:
            with zipfile.ZipFile(store.model_file(model["id"], fmt)) as archive:
                info = json.loads(archive.read("model.json"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue
        figures[fmt] = {k: info[k] for k in FIGURES if k in info}
    return figures


@router.get("/ui/projects")
def projects(request: Request, store: StoreDep) -> ProjectSummaries:
    """Every project with its image counts per state, models, deployed version and trainings per state."""
    stats = _stats(request)
    images, trainings, models, deployed = (stats.image_counts(), stats.training_counts(), stats.model_counts(),
                                           stats.deployed())
    return ProjectSummaries.model_validate({"projects": [
        {"organization": org, "project": project, "images": images.get((org, project), {}),
         "trainings": trainings.get((org, project), {}), "models": models.get((org, project), 0),
         "deployed": deployed.get((org, project))} for org, project in store.projects()]})


@router.get("/ui/{org}/{project}")
def project(org: str, project: str, request: Request, store: StoreDep) -> ProjectPage:
    """Categories, image counts, models (with the figures of each format's model.json), the deployment target,
    trainings (state history, progress timeline, metrics updates) and the detectors' last statuses."""
    store.require_project(org, project)
    deployment = store.deployment(org, project)
    return ProjectPage.model_validate({
        "organization": org, "project": project, "categories": store.categories(org, project),
        "images": _stats(request).image_counts().get((org, project), {}),
        "models": [{**m, "figures": _model_figures(store, m)} for m in store.models(org, project)],
        "deployed": deployment["version"] if deployment else None,
        "trainings": store.trainings(org, project), "detectors": store.detectors(org, project)})


@router.get("/ui/{org}/{project}/images")
def images(org: str, project: str, store: StoreDep, state: str | None = None,
           offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 48) -> ImagePage:
    """Image data (annotations and detections) of one state or all, newest last, a page at a time."""
    store.require_project(org, project)
    ids = store.image_ids(org, project, state if state in STATES else None)
    return ImagePage.model_validate({"total": len(ids), "offset": offset,
                                     "images": store.images(org, project, ids[offset:offset + limit])})


@router.get("/ui/{org}/{project}/images/{image_id}.jpg")
def image_file(org: str, project: str, image_id: str, store: StoreDep) -> FileResponse:
    if not store.image_in_project(org, project, image_id):
        raise NotFound(f"image {image_id} does not exist in {org}/{project}")
    return FileResponse(store.image_path(image_id), media_type="image/jpeg",
                        headers={"cache-control": "max-age=3600"})


def demo_image(store: Store, org: str, project: str) -> dict[str, Any]:
    """The demo image: the first test-set image of the project with the most objects (of the first 50)."""
    store.require_project(org, project)
    candidates = store.images(org, project, store.image_ids(org, project, "complete"))
    tests = [i for i in candidates if i.get("set") == "test"][:50] or candidates[:50]
    if not tests:
        raise NotFound(f"{org}/{project} has no annotated images")
    count = [len(i.get("box_annotations", [])) + len(i.get("point_annotations", [])) for i in tests]
    return tests[count.index(max(count))]


@router.get("/annotate", include_in_schema=False)
def annotate_page() -> FileResponse:
    """The annotation page: a person's mouse and key events go to a connected annotation node, its SVG is drawn."""
    return FileResponse(Path(__file__).parents[1] / "static" / "annotate.html", media_type="text/html",
                        headers={"cache-control": "no-cache"})


@router.get("/demo.jpg")
def demo_jpg(store: StoreDep, settings: SettingsDep) -> FileResponse:
    """A demo-project image to try the detector with: `curl -o demo.jpg localhost:8000/demo.jpg`."""
    image = demo_image(store, settings.organization or "zauberzeug", settings.project or "demo")
    return FileResponse(store.image_path(image["id"]), media_type="image/jpeg", headers={"x-image-id": image["id"]})


@router.get("/demo.json")
def demo_json(store: StoreDep, settings: SettingsDep) -> LoopImage:
    """The demo image's data: its annotations are what a good model finds in it."""
    image = demo_image(store, settings.organization or "zauberzeug", settings.project or "demo")
    return LoopImage.model_validate(image)
