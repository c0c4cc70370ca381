"""User inputs and scenes with a true mask, for the annotator's unit tests."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from loop_testkit.scene_categories import make_categories
from loop_testkit.scenes import render_scene

ORG, PROJECT = "zauberzeug", "annotate"
CATEGORY = {"id": "cat-1", "name": "orange blob", "type": "segmentation", "color": "#f08c1e"}


def user_input(event_type: str, x: int = 0, y: int = 0, frontend_id: str = "person-1", image_uuid: str = "img-1",
               **extra: Any) -> dict[str, Any]:
    return {"frontend_id": frontend_id,
            "data": {"coordinate": {"x": x, "y": y}, "event_type": event_type,
                     "context": {"organization": ORG, "project": PROJECT}, "image_uuid": image_uuid,
                     "category": CATEGORY, **extra}}


def scene(seed: int, difficulty: str = "easy", width: int = 640, height: int = 480
          ) -> tuple[np.ndarray, list[np.ndarray]]:
    """An RGB scene with segmentation objects, and the true mask of each (bool H x W)."""
    categories = make_categories(0, 0, 2, 0, difficulty)  # type: ignore[arg-type]
    image, annotations = render_scene(np.random.default_rng(seed), categories, width, height, objects=2,
                                      difficulty=difficulty)  # type: ignore[arg-type]
    masks = []
    for annotation in annotations["segmentation_annotations"]:
        mask = np.zeros((height, width), np.uint8)
        points = np.array([(p["x"], p["y"]) for p in annotation["shape"]["points"]], np.int32)
        cv2.fillPoly(mask, [points], 1)
        masks.append(mask.astype(bool))
    return image, masks


def polygon_mask(points: list[tuple[int, int]], height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    if len(points) >= 3:
        cv2.fillPoly(mask, [np.array(points, np.int32)], 1)
    return mask.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def box_of(mask: np.ndarray, pad: int = 3) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max()) + pad, int(ys.max()) + pad
