"""Did a detector find the objects of a scene? Its answer matched against the scene's annotations (the Loop's
image data, as scenes.render_scene returns them), per annotated object."""

from __future__ import annotations

import math
from typing import Any

POINT_DISTANCE = 10.0  # pixels: a point detection this close to an annotated point found it


def box_iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    ix = max(0, min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]))
    iy = max(0, min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]))
    union = a["width"] * a["height"] + b["width"] * b["height"] - ix * iy
    return ix * iy / union if union > 0 else 0.0


def match_truth(image: dict[str, Any], found: dict[str, Any]) -> list[dict[str, Any]]:
    """For every annotated object of `image` (the Loop's image data), the best detection of its category in
    `found` (a detector's answer): its IoU for boxes, its distance for points (None when nothing matched)."""
    matches = []
    for truth in image.get("box_annotations", []):
        ious = [box_iou(truth, d) for d in found.get("box_detections", [])
                if d["category_name"] == truth["category_name"]]
        matches.append({"category": truth["category_name"], "iou": max(ious, default=None)})
    for truth in image.get("point_annotations", []):
        distances = [math.dist((truth["x"], truth["y"]), (d["x"], d["y"])) for d in found.get("point_detections", [])
                     if d["category_name"] == truth["category_name"]]
        matches.append({"category": truth["category_name"], "distance": min(distances, default=None)})
    return matches


def all_found(matches: list[dict[str, Any]], min_iou: float = 0.5) -> bool:
    return bool(matches) and all((m["iou"] or 0) >= min_iou if "iou" in m else
                                 m["distance"] is not None and m["distance"] <= POINT_DISTANCE for m in matches)
