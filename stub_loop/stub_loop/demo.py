"""The demo project `LOOP_ORGANIZATION`/`LOOP_PROJECT` (default zauberzeug/demo), seeded when missing."""

from __future__ import annotations

import logging

from .generator import GeneratorRequest
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
    log.info("seeded demo project %s/%s", org, project)
