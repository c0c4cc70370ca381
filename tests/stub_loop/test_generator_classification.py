"""The generator's classification projects: one classification annotation per complete image, naming the shape that
dominates it (in both difficulties); and the outputs of every other kind of project, byte for byte as before."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pytest

from loop_testkit import scenes
from loop_testkit.hard_scenes import Placed
from loop_testkit.scene_categories import CLASSIFICATION_LOOKS, make_categories
from stub_loop.project_factory import GeneratorRequest, generate_project
from tests.conftest import ORG


class RecordingStore:
    """What generate_project hands the store, kept in memory."""

    def __init__(self) -> None:
        self.categories: list[dict[str, Any]] = []
        self.images: list[tuple[bytes, dict[str, Any]]] = []

    def project_exists(self, org: str, project: str) -> bool:
        return False

    def create_project(self, org: str, project: str, categories: list[dict[str, Any]]) -> None:
        self.categories = categories

    def add_image(self, org: str, project: str, jpeg: bytes, record: dict[str, Any]) -> None:
        self.images.append((jpeg, record))


def fingerprint(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]) -> str:
    """A digest of everything the generator makes of `body`: categories, JPEG bytes and image records (the random
    uuid4s of categories and annotations replaced by a counter)."""
    counter = itertools.count()
    with monkeypatch.context() as patched:
        patched.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
        store = RecordingStore()
        generate_project(store, "org", GeneratorRequest(**body))  # type: ignore[arg-type]
    digest = hashlib.sha256(json.dumps(store.categories, sort_keys=True).encode())
    for jpeg, record in store.images:
        digest.update(jpeg)
        digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()[:16]


# digests of the generator before classification projects existed (commit d1dbbd1)
BEFORE = [
    ("68139be8139a88ee", {"project_name": "p", "complete": 6, "inbox": 2, "annotate": 1, "review": 1,
                          "box_categories": 2, "seed": 3}),
    ("f188999a148f0e1c", {"project_name": "p", "complete": 6, "box_categories": 3, "point_categories": 1,
                          "segmentation_categories": 1, "seed": 4, "difficulty": "hard", "image_width": 160,
                          "image_height": 120, "empty_images": 1}),
    ("fd158b6b2d8ec8cf", {"project_name": "p", "complete": 5, "box_categories": 1, "point_categories": 2,
                          "segmentation_categories": 2, "box_detections": 2, "seed": 5}),
]


@pytest.mark.parametrize(("digest", "body"), BEFORE)
def test_box_point_and_segmentation_projects_come_out_byte_for_byte_as_before(
        monkeypatch: pytest.MonkeyPatch, digest: str, body: dict[str, Any]) -> None:
    assert fingerprint(monkeypatch, body) == digest


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_every_complete_image_has_one_classification_annotation(loop: httpx.Client, difficulty: str) -> None:
    body = {"project_name": f"cls{difficulty}", "complete": 20, "inbox": 3, "box_categories": 0,
            "classification_categories": 3, "difficulty": difficulty, "seed": 2}
    response = loop.post(f"/{ORG}/projects/generator", json=body)
    assert response.status_code == 200, response.text
    categories = response.json()["categories"]
    assert [(c["name"], c["type"]) for c in categories] == [
        ("circles", "classification"), ("squares", "classification"), ("triangles", "classification")]
    ids = loop.get(f"/{ORG}/projects/cls{difficulty}/data", params={"state": "complete"}).json()["image_ids"]
    images = loop.get(f"/{ORG}/projects/cls{difficulty}/images", params={"ids": ",".join(ids)}).json()["images"]
    assert len(images) == 20 and {i["set"] for i in images} == {"train", "test"}
    by_id = {c["id"]: c["name"] for c in categories}
    for image in images:
        annotation = image["classification_annotation"]
        assert by_id[annotation["category_id"]] == annotation["category_name"]
        assert annotation["image_id"] == image["id"]
        assert image["box_annotations"] == image["point_annotations"] == image["segmentation_annotations"] == []
    assert len({i["classification_annotation"]["category_name"] for i in images}) == 3  # every class shows up
    inbox = loop.get(f"/{ORG}/projects/cls{difficulty}/data", params={"state": "inbox"}).json()["image_ids"]
    unannotated = loop.get(f"/{ORG}/projects/cls{difficulty}/images", params={"ids": ",".join(inbox)}).json()
    assert [i["classification_annotation"] for i in unannotated["images"]] == [None] * 3
    refused = loop.post(f"/{ORG}/projects/generator", json={**body, "empty_images": 2})
    assert refused.status_code == 422 and "empty images" in refused.text


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_the_annotated_shape_dominates_the_image(monkeypatch: pytest.MonkeyPatch, difficulty: str) -> None:
    """Count what each scene draws: objects of the annotated shape only (three or more when hard)."""
    drawn: list[str] = []
    place = scenes.place_object

    def recording(image: np.ndarray, rng: np.random.Generator, shape: str, size: int, visible: list[np.ndarray],
                  colour: np.ndarray | None = None) -> tuple[np.ndarray, Placed | None]:
        image, placed = place(image, rng, shape, size, visible, colour)
        if placed is not None:
            drawn.append(shape)
        return image, placed

    monkeypatch.setattr(scenes, "place_object", recording)
    categories = make_categories(0, 0, 0, 4, difficulty)
    rng = np.random.default_rng(8)
    for _ in range(40):
        drawn.clear()
        _, annotations = scenes.render_classification_scene(rng, categories, 200, 150, difficulty=difficulty)
        shape = CLASSIFICATION_LOOKS[annotations["classification_annotation"]["category_name"]][1]
        counts = Counter(drawn)
        assert set(counts) == {shape} and counts[shape] >= (3 if difficulty == "hard" else 1), drawn
