"""Hard synthetic scenes: categories by shape alone, clutter, small and overlapping objects, exact boxes."""

from __future__ import annotations

import numpy as np
import pytest

from loop_testkit.hard_scenes import MAX_OBJECTS
from loop_testkit.scene_categories import make_categories
from loop_testkit.scenes import render_scene


def test_hard_categories_are_shapes_and_difficulty_is_checked() -> None:
    assert [c["name"] for c in make_categories(3, 0, 0, 0, "hard")] == ["circle", "square", "triangle"]
    assert make_categories(2, 0, 0, 0)[0]["name"] == "red circle"
    with pytest.raises(ValueError, match="difficulty"):
        make_categories(2, 0, 0, 0, "impossible")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_scenes_have_small_objects_random_colours_and_exact_boxes(seed: int) -> None:
    categories = make_categories(3, 0, 0, 0, "hard")
    rng = np.random.default_rng(seed)
    sizes, counts, colours = [], [], []
    for _ in range(60):
        image, annotations = render_scene(rng, categories, 416, 320, difficulty="hard")
        boxes = annotations["box_annotations"]
        counts.append(len(boxes))
        for b in boxes:
            assert b["x"] >= 0 and b["x"] + b["width"] <= 416 and b["y"] >= 0 and b["y"] + b["height"] <= 320
            sizes.append(max(b["width"], b["height"]))
            inner = image[b["y"] + b["height"] // 2, b["x"] + b["width"] // 2].astype(int)
            colours.append(inner)
    assert image.shape == (320, 416, 3) and image.dtype == np.uint8
    assert min(counts) >= 1 and max(counts) <= MAX_OBJECTS and len(set(counts)) >= 3
    assert min(sizes) < 20 and max(sizes) > 80            # objects under 20 px and large ones
    assert np.std(np.array(colours), axis=0).mean() > 40  # colours vary: the shape is what tells categories apart


def test_crowded_hard_scenes_overlap_partially() -> None:
    categories = make_categories(3, 0, 0, 0, "hard")
    rng = np.random.default_rng(5)
    overlaps = 0
    for _ in range(80):
        _, annotations = render_scene(rng, categories, 200, 160, objects=5, difficulty="hard")
        boxes = [(b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]) for b in annotations["box_annotations"]]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                    overlaps += 1
    assert overlaps > 0  # crowded scenes do overlap, partially
