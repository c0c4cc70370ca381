"""Synthetic projects: coloured shapes on textured backgrounds, with exact box, point and polygon annotations.

Annotations are measured from the pixels actually drawn (each object is rendered into its own mask first), so a
trainer that learns from them can reach a high mAP, and a test can render fresh scenes of the same categories.
Two difficulties: `easy` (each category a fixed colour and shape on a plain texture, one to three objects) and
`hard` (categories by shape alone in random colours, clutter, small and overlapping objects, uneven light, blur,
noise and JPEG artefacts; see hard_scenes.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from .hard_scenes import HARD_SHAPES, blob_outline, render_hard_scene

Difficulty = Literal["easy", "hard"]
DIFFICULTIES = ("easy", "hard")

# name, RGB colour, shape; the order is the order in which categories are handed out per type
BOX_PALETTE = [("red circle", (215, 40, 40), "circle"), ("blue square", (40, 70, 215), "square"),
               ("green triangle", (40, 170, 60), "triangle"), ("yellow diamond", (225, 205, 40), "diamond"),
               ("magenta ring", (200, 50, 190), "ring"), ("cyan cross", (40, 200, 210), "cross")]
POINT_PALETTE = [("purple point", (120, 40, 170), "dot"), ("white point", (245, 245, 245), "dot"),
                 ("black point", (15, 15, 15), "dot")]
SEGMENTATION_PALETTE = [("orange blob", (240, 140, 30), "blob"), ("teal blob", (30, 150, 140), "blob")]
CLASSIFICATION_NAMES = ["sunny", "cloudy", "rainy", "foggy"]
_BY_NAME = {name: (colour, shape) for name, colour, shape in BOX_PALETTE + POINT_PALETTE + SEGMENTATION_PALETTE}


@dataclass
class GeneratorRequest:
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


def textured_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    coarse = rng.random((max(2, height // 24), max(2, width // 24), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    tint = rng.uniform(0.6, 1.0, size=3).astype(np.float32)
    base = 70 + 90 * smooth * tint
    grain = rng.normal(0, 10, size=(height, width, 3)).astype(np.float32)
    result: np.ndarray = np.clip(base + grain, 0, 255).astype(np.uint8)
    return result


def _object_mask(shape: str, cx: int, cy: int, size: int, width: int, height: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]] | None]:
    mask = np.zeros((height, width), np.uint8)
    r = size // 2
    polygon: list[tuple[int, int]] | None = None
    if shape == "circle":
        cv2.circle(mask, (cx, cy), r, 255, -1)
    elif shape == "square":
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 255, -1)
    elif shape == "triangle":
        cv2.fillPoly(mask, [np.array([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], np.int32)], 255)
    elif shape == "diamond":
        cv2.fillPoly(mask, [np.array([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], np.int32)], 255)
    elif shape == "ring":
        cv2.circle(mask, (cx, cy), r, 255, max(3, r // 3))
    elif shape == "cross":
        t = max(3, r // 3)
        cv2.rectangle(mask, (cx - r, cy - t), (cx + r, cy + t), 255, -1)
        cv2.rectangle(mask, (cx - t, cy - r), (cx + t, cy + r), 255, -1)
    elif shape == "dot":
        cv2.circle(mask, (cx, cy), 6, 255, -1)
    elif shape == "blob":
        polygon = blob_outline(rng, cx, cy, r)
        cv2.fillPoly(mask, [np.array(polygon, np.int32)], 255)
    else:
        raise ValueError(f"unknown shape {shape}")
    return mask, polygon


def _overlaps(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    return any(x < ox + ow + 4 and ox < x + w + 4 and y < oy + oh + 4 and oy < y + h + 4
               for ox, oy, ow, oh in others)


def render_scene(rng: np.random.Generator, categories: list[dict[str, Any]], width: int = 320, height: int = 240,
                 objects: int = 0, image_id: str = "", difficulty: Difficulty = "easy"
                 ) -> tuple[np.ndarray, dict[str, list[dict[str, Any]]]]:
    """Draw one RGB scene with `objects` objects (0: one to three, or to five when hard) of the drawable
    categories.

    Returns the image and its annotations in the Loop's image-data shape.
    """
    if difficulty == "hard":
        return render_hard_scene(rng, categories, width, height, objects, image_id)
    image = textured_background(rng, width, height)
    drawable = [c for c in categories if c["name"] in _BY_NAME and c.get("type") in ("box", "point", "segmentation")]
    annotations: dict[str, list[dict[str, Any]]] = {"box_annotations": [], "point_annotations": [],
                                                    "segmentation_annotations": []}
    if not drawable:
        return image, annotations
    count = objects or int(rng.integers(1, 4))
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        category = drawable[int(rng.integers(len(drawable)))]
        colour, shape = _BY_NAME[category["name"]]
        size = int(rng.integers(max(16, min(width, height) // 9), max(24, min(width, height) // 4)))
        for _attempt in range(30):
            cx = int(rng.integers(size // 2 + 2, width - size // 2 - 2))
            cy = int(rng.integers(size // 2 + 2, height - size // 2 - 2))
            mask, polygon = _object_mask(shape, cx, cy, size, width, height, rng)
            ys, xs = np.nonzero(mask)
            box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
            if not _overlaps(box, placed):
                break
        else:
            continue
        placed.append(box)
        jitter = rng.integers(-20, 21, size=3)
        fill = np.clip(np.array(colour) + jitter, 0, 255).astype(np.uint8)
        if shape == "dot":
            cv2.circle(image, (cx, cy), 9, (235, 235, 235) if sum(colour) < 400 else (20, 20, 20), -1)
        image[mask > 0] = fill
        base = {"id": str(uuid.uuid4()), "image_id": image_id, "category_id": category["id"],
                "category_name": category["name"]}
        if category["type"] == "box":
            annotations["box_annotations"].append({**base, "x": box[0], "y": box[1], "width": box[2],
                                                   "height": box[3]})
        elif category["type"] == "point":
            annotations["point_annotations"].append({**base, "x": float(cx), "y": float(cy)})
        else:
            points = [{"x": int(x), "y": int(y)} for x, y in (polygon or [])]
            annotations["segmentation_annotations"].append({**base, "shape": {"points": points}})
    return image, annotations


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def fake_box_detections(rng: np.random.Generator, categories: list[dict[str, Any]], count: int, width: int,
                        height: int) -> list[dict[str, Any]]:
    boxes = [c for c in categories if c.get("type") == "box"]
    detections = []
    for _ in range(count if boxes else 0):
        category = boxes[int(rng.integers(len(boxes)))]
        w, h = int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3))
        detections.append({"category_name": category["name"], "category_id": category["id"],
                           "x": int(rng.integers(0, width - w)), "y": int(rng.integers(0, height - h)),
                           "width": w, "height": h, "model_name": "generator",
                           "confidence": round(float(rng.uniform(0.2, 0.9)), 3)})
    return detections
