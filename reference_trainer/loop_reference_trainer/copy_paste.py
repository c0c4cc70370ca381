"""Copy-paste augmentation (Ghiasi et al. 2021, Ultralytics' `copy_paste`) for projects with segmentation
categories: objects with an outline are cut out of training images by their polygon and pasted, turned, flipped
and rescaled, into other training samples at free places, with their box and outline.

A segmentation object's polygon is exact, so its pixels can be moved to another background without a trace of the
old one; each paste is one more example of the segmentation category beside other objects and distractors. A pasted
object covers at most MAX_COVERED of any box already in the sample (the generated scenes allow as much), so every
object there keeps its annotation; where no such place is found in PLACE_TRIES tries, nothing is pasted.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from .data import Outline, Split

MAX_PASTED = 3          # objects pasted into one sample (1 to this many)
PASTE_ZOOM = (0.6, 1.4)  # the pasted object's scale, relative to its image's scale in a plain sample
MAX_COVERED = 0.3       # of the area of a box already in the sample that a pasted object may cover
PLACE_TRIES = 10
MIN_SIDE = 4.0          # pasted objects smaller than this (input pixels) are skipped


def sources(split: Split) -> list[tuple[int, int]]:
    """(image, object) of every object with an outline in `split`: what can be pasted."""
    return [(i, k) for i, outlines in enumerate(split.polygons) for k, p in enumerate(outlines) if p is not None]


def _free(box: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether `box` (x1, y1, x2, y2) covers at most MAX_COVERED of each of `boxes` (M x 5)."""
    if not len(boxes):
        return True
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return bool(np.all(ix * iy <= MAX_COVERED * area))


def paste(out: np.ndarray, boxes: np.ndarray, outlines: list[Outline | None], split: Split,
          pool: list[tuple[int, int]], rng: np.random.Generator) -> tuple[np.ndarray, list[Outline | None]]:
    """Paste 1 to MAX_PASTED objects of `pool` (see `sources`) into the sample `out` (H x W x 3 uint8, changed in
    place); returns the sample's boxes and outlines with the pasted ones appended."""
    height, width = out.shape[:2]
    added_boxes, added_outlines = [boxes], list(outlines)
    taken = boxes
    for _ in range(int(rng.integers(1, MAX_PASTED + 1))):
        i, k = pool[int(rng.integers(len(pool)))]
        image, polygon = split.images[i], split.polygons[i][k]
        assert polygon is not None
        h, w = image.shape[:2]
        scale = min(width / w, height / h) * rng.uniform(*PASTE_ZOOM)
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle), math.sin(angle)
        linear = scale * np.array([[c, -s], [s, c]]) @ np.diag([-1.0 if rng.random() < 0.5 else 1.0, 1.0])
        centre = (polygon.min(axis=0) + polygon.max(axis=0)) / 2
        moved = (polygon - centre) @ linear.T
        # a polygon's box bounds the pixels it covers: half a (scaled) pixel beyond its corners
        low, high = moved.min(axis=0) - scale / 2, moved.max(axis=0) + scale / 2
        size = high - low
        if size[0] >= width or size[1] >= height or size.min() < MIN_SIDE:
            continue
        for _ in range(PLACE_TRIES):
            shift = rng.uniform(-low, (width, height) - high)
            box = np.concatenate([low + shift, high + shift])
            if _free(box, taken):
                break
        else:
            continue
        matrix = np.concatenate([linear, (shift - linear @ centre)[:, None]], axis=1)
        x1, y1 = math.floor(box[0]), math.floor(box[1])
        x2, y2 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
        # `matrix` maps continuous coordinates (pixel i spans i to i + 1); OpenCV's maps pixel centres
        local = matrix.copy()
        local[:, 2] += linear @ (0.5, 0.5) - 0.5 - (x1, y1)
        patch = cv2.warpAffine(image, local, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        placed = moved + shift
        alpha = np.zeros((y2 - y1, x2 - x1), np.uint8)
        cv2.fillPoly(alpha, [np.round((placed - 0.5 - (x1, y1)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        a = alpha[..., None].astype(np.uint16)
        region = out[y1:y2, x1:x2]
        region[:] = ((patch.astype(np.uint16) * a + region.astype(np.uint16) * (255 - a) + 127) // 255).astype(
            np.uint8)
        row = np.array([[*box, split.boxes[i][k, 4]]], np.float32)
        added_boxes.append(row)
        added_outlines.append((placed, (0, 0, width, height)))
        taken = np.concatenate([taken, row])
    return np.concatenate(added_boxes).astype(np.float32), added_outlines
