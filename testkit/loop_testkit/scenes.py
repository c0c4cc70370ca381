"""Synthetic scenes: coloured shapes on textured backgrounds, with exact box, point and polygon annotations.

Annotations are measured from the pixels actually drawn (each object is rendered into its own mask first), so a
trainer that learns from them can reach a high mAP, and a test can render fresh scenes of the same categories.
Two difficulties: `easy` (each category a fixed colour and shape on a plain texture, one to three objects) and
`hard` (categories by shape alone in random colours, clutter, small and overlapping objects, uneven light, blur,
noise and JPEG artefacts; see hard_scenes.py). The categories come from scene_categories.py.

A project whose categories are all of type `classification` gets classification scenes instead
(`render_classification_scene`): each image shows objects of one shape, and its classification annotation is the
category of that shape.
"""

from __future__ import annotations

import uuid
from typing import Any

import cv2
import numpy as np

from .hard_scenes import background, blob_outline, distractors, finish, place_object, render_hard_scene
from .scene_categories import CLASSIFICATION_LOOKS, EASY_LOOKS, Difficulty


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
    drawable = [c for c in categories if c["name"] in EASY_LOOKS and c.get("type") in ("box", "point", "segmentation")]
    annotations: dict[str, list[dict[str, Any]]] = {"box_annotations": [], "point_annotations": [],
                                                    "segmentation_annotations": []}
    if not drawable:
        return image, annotations
    count = objects or int(rng.integers(1, 4))
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        category = drawable[int(rng.integers(len(drawable)))]
        colour, shape = EASY_LOOKS[category["name"]]
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


def is_classification_project(categories: list[dict[str, Any]]) -> bool:
    """Every category is of type `classification` (and there is at least one)."""
    return bool(categories) and all(c.get("type") == "classification" for c in categories)


def render_classification_scene(rng: np.random.Generator, categories: list[dict[str, Any]], width: int = 320,
                                height: int = 240, image_id: str = "", difficulty: Difficulty = "easy"
                                ) -> tuple[np.ndarray, dict[str, Any]]:
    """One RGB scene whose dominant shape is one of the classification `categories` (picked at random), and its
    annotations in the Loop's image-data shape: `classification_annotation` names that category.

    `easy`: one to three objects of the shape in the category's colour on a plain texture, 1/6 to 1/3 of the
    shorter side across. `hard`: three to six objects of the shape in random colours and rotations, 10 % to 28 % of
    the shorter side across, among the hard scenes' clutter and distractors (strokes, ellipses, spiky polygons,
    specks: none of them a category's shape); then uneven light, blur, noise and JPEG artefacts.
    """
    classes = [c for c in categories if c.get("type") == "classification" and c["name"] in CLASSIFICATION_LOOKS]
    annotations: dict[str, Any] = {"box_annotations": [], "point_annotations": [], "segmentation_annotations": [],
                                   "classification_annotation": None}
    if not classes:
        return textured_background(rng, width, height), annotations
    category = classes[int(rng.integers(len(classes)))]
    colour, shape = CLASSIFICATION_LOOKS[category["name"]]
    side = min(width, height)
    visible: list[np.ndarray] = []
    if difficulty != "hard":
        canvas: np.ndarray = textured_background(rng, width, height).astype(np.float32)
        for _ in range(int(rng.integers(1, 4))):
            fill = np.clip(np.array(colour, np.float32) + rng.integers(-20, 21, size=3), 0, 255)
            canvas, _ = place_object(canvas, rng, shape, int(rng.integers(side // 6, side // 3 + 1)), visible, fill)
        image: np.ndarray = np.clip(canvas, 0, 255).astype(np.uint8)
    else:
        canvas = background(rng, width, height)
        distractors(canvas, rng)
        low, high = max(12.0, side * 0.1), max(16.0, side * 0.28)
        sizes = [int(np.exp(rng.uniform(np.log(low), np.log(high)))) for _ in range(int(rng.integers(3, 7)))]
        for size in sizes:
            canvas, _ = place_object(canvas, rng, shape, size, visible)
        image = finish(canvas, rng)
    annotations["classification_annotation"] = {"id": str(uuid.uuid4()), "image_id": image_id,
                                                "category_id": category["id"], "category_name": category["name"]}
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
