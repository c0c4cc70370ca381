"""The stub's generator: fill a project with synthetic scenes (loop_testkit.scenes), annotated `complete` images
split into train and test sets, and unannotated images for the other states.

A request with classification categories only makes a classification project: every complete image has exactly
one `classification_annotation`, the category of the shape that dominates it (`render_classification_scene`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from typing import Any

import numpy as np

from loop_testkit.scene_categories import Difficulty, make_categories
from loop_testkit.scenes import (
    encode_jpeg,
    fake_box_detections,
    is_classification_project,
    render_classification_scene,
    render_scene,
)

from .store import Store

log = logging.getLogger("stub.generator")

ID_NAMESPACE = uuid.UUID("6f1d4c2a-9b7e-4e55-a3c1-2d8f0b6e9a41")


@dataclasses.dataclass
class GeneratorRequest:
    """A request to the stub's generator route: the Loop's generator, plus difficulty and negative images."""

    project_name: str
    inbox: int = 0
    annotate: int = 0
    review: int = 0
    complete: int = 0
    box_categories: int = 2
    point_categories: int = 0
    segmentation_categories: int = 0
    classification_categories: int = 0
    box_annotations: int = 0  # objects per complete image; 0 = 1..3 at random
    box_detections: int = 0  # fake detections attached to every image, as the Loop's generator does
    image_width: int = 320
    image_height: int = 240
    test_fraction: float = 0.2
    seed: int = 0
    difficulty: Difficulty = "easy"
    empty_images: int = 0  # of the complete images, this many (in the train set) show no object at all


def image_id_of(org: str, request: GeneratorRequest, state: str, index: int) -> str:
    """The id of a generated image follows from the whole request: the same request makes the same images under the
    same ids (a trainer's validation split, taken by a hash of the ids, is the same from run to run), and any
    change to it (seed, size, difficulty, counts) makes new ids, so no node mistakes a cached image for a new one."""
    key = json.dumps([org, dataclasses.asdict(request), state, index], sort_keys=True)
    return str(uuid.uuid5(ID_NAMESPACE, key))


def generate_project(store: Store, org: str, request: GeneratorRequest) -> dict[str, Any]:
    categories = make_categories(request.box_categories, request.point_categories,
                                 request.segmentation_categories, request.classification_categories,
                                 request.difficulty)
    classification = is_classification_project(categories)
    if classification and request.empty_images:
        raise ValueError("a classification project has no empty images: every complete image shows its class")
    project = request.project_name
    if store.project_exists(org, project):
        store.delete_project(org, project)
    store.create_project(org, project, categories)
    rng = np.random.default_rng(request.seed)
    counts: dict[str, int] = {}
    test_every = round(1 / request.test_fraction) if request.test_fraction > 0 else 0
    for state in ("complete", "inbox", "annotate", "review"):
        for i in range(getattr(request, state)):
            image_id = image_id_of(org, request, state, i)
            empty = state == "complete" and i < request.empty_images
            annotations: dict[str, Any]
            if classification:
                image, annotations = render_classification_scene(rng, categories, request.image_width,
                                                                 request.image_height, image_id, request.difficulty)
            else:
                image, annotations = render_scene(rng, [] if empty else categories, request.image_width,
                                                  request.image_height,
                                                  request.box_annotations, image_id=image_id,
                                                  difficulty=request.difficulty)
            record: dict[str, Any] = {"id": image_id, "state": state, "width": request.image_width,
                                      "height": request.image_height,
                                      "tags": [], "source": "generator", "box_detections": [],
                                      "point_detections": [], "segmentation_detections": [],
                                      "classification_detections": []}
            if state == "complete":
                record.update(annotations)
                record["set"] = "test" if test_every and not empty and i % test_every == test_every - 1 else "train"
            else:
                record.update({"box_annotations": [], "point_annotations": [], "segmentation_annotations": [],
                               "set": None})
                if classification:
                    record["classification_annotation"] = None
            if request.box_detections:
                record["box_detections"] = fake_box_detections(rng, categories, request.box_detections,
                                                               request.image_width, request.image_height)
            store.add_image(org, project, encode_jpeg(image), record)
            counts[state] = counts.get(state, 0) + 1
    log.info("generated project %s/%s: %s", org, project, counts)
    return {"organization": org, "project": project, "categories": categories, "image_counts": counts}
