"""The categories of the synthetic scenes: what each is called and how it is drawn, in both difficulties."""

from __future__ import annotations

import uuid
from typing import Any, Literal

Difficulty = Literal["easy", "hard"]
DIFFICULTIES = ("easy", "hard")

# name, RGB colour, shape; the order is the order in which categories are handed out per type
BOX_PALETTE = [("red circle", (215, 40, 40), "circle"), ("blue square", (40, 70, 215), "square"),
               ("green triangle", (40, 170, 60), "triangle"), ("yellow diamond", (225, 205, 40), "diamond"),
               ("magenta ring", (200, 50, 190), "ring"), ("cyan cross", (40, 200, 210), "cross")]
POINT_PALETTE = [("purple point", (120, 40, 170), "dot"), ("white point", (245, 245, 245), "dot"),
                 ("black point", (15, 15, 15), "dot")]
SEGMENTATION_PALETTE = [("orange blob", (240, 140, 30), "blob"), ("teal blob", (30, 150, 140), "blob")]
# classification categories: the shape an image shows (its dominant shape), and its colour in the easy scenes
CLASSIFICATION_PALETTE = [("circles", (215, 40, 40), "circle"), ("squares", (40, 70, 215), "square"),
                          ("triangles", (40, 170, 60), "triangle"), ("crosses", (40, 200, 210), "cross"),
                          ("rings", (200, 50, 190), "ring"), ("stars", (225, 205, 40), "star")]
CLASSIFICATION_NAMES = [name for name, _, _ in CLASSIFICATION_PALETTE]
CLASSIFICATION_LOOKS = {name: (colour, shape) for name, colour, shape in CLASSIFICATION_PALETTE}
EASY_LOOKS = {name: (colour, shape) for name, colour, shape in BOX_PALETTE + POINT_PALETTE + SEGMENTATION_PALETTE}


# category name → shape; the first three are the classic trio of the benchmark
HARD_SHAPES = [("circle", "circle"), ("square", "square"), ("triangle", "triangle"), ("cross", "cross"),
               ("ring", "ring"), ("star", "star")]
HARD_SHAPE_OF = dict(HARD_SHAPES)


def make_categories(box: int, point: int, segmentation: int, classification: int,
                    difficulty: Difficulty = "easy") -> list[dict[str, Any]]:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
    box_palette = BOX_PALETTE if difficulty == "easy" else [(n, (128, 128, 128), s) for n, s in HARD_SHAPES]
    for count, palette, kind in ((box, box_palette, "box"), (point, POINT_PALETTE, "point"),
                                 (segmentation, SEGMENTATION_PALETTE, "segmentation")):
        if count > len(palette):
            raise ValueError(f"at most {len(palette)} {kind} categories can be generated, not {count}")
    if classification > len(CLASSIFICATION_NAMES):
        raise ValueError(f"at most {len(CLASSIFICATION_NAMES)} classification categories can be generated")
    categories = []
    for count, palette, kind in ((box, box_palette, "box"), (point, POINT_PALETTE, "point"),
                                 (segmentation, SEGMENTATION_PALETTE, "segmentation")):
        for name, colour, _ in palette[:count]:
            categories.append({"id": str(uuid.uuid4()), "name": name, "type": kind,
                               "color": "#{:02x}{:02x}{:02x}".format(*colour), "description": None,
                               "hotkey": None, "point_size": 6 if kind == "point" else None})
    for name in CLASSIFICATION_NAMES[:classification]:
        categories.append({"id": str(uuid.uuid4()), "name": name, "type": "classification", "color": None,
                           "description": None, "hotkey": None, "point_size": None})
    return categories
