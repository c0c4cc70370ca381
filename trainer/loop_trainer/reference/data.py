"""Training data for the reference detector: letterboxed images and per-cell targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from loop_shared.imaging import letterbox as shared_letterbox

from .network import ANCHOR, STRIDE

POINT_BOX = 16.0  # points are learned as small boxes around them; the detector reports their centres


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Into size x size exactly as the detector does (the shared letterbox); returns image, scale, pad x, pad y."""
    canvas, box = shared_letterbox(rgb, size, size)
    return canvas, box.scale_x, box.pad_x, box.pad_y


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def annotation_boxes(item: dict[str, Any], class_of: dict[str, int]) -> list[tuple[float, float, float, float, int]]:
    """(x1, y1, x2, y2, class) in original pixels for the box and point annotations of known categories."""
    boxes = []
    for a in item.get("box_annotations", []):
        if a.get("category_id") in class_of:
            boxes.append((a["x"], a["y"], a["x"] + a["width"], a["y"] + a["height"], class_of[a["category_id"]]))
    for p in item.get("point_annotations", []):
        if p.get("category_id") in class_of:
            r = POINT_BOX / 2
            boxes.append((p["x"] - r, p["y"] - r, p["x"] + r, p["y"] + r, class_of[p["category_id"]]))
    return boxes


@dataclass
class Split:
    images: np.ndarray                                        # N x R x R x 3 uint8, letterboxed
    boxes: list[np.ndarray]                                   # per image: M x 5 (x1, y1, x2, y2, class), input px
    originals: list[list[tuple[float, float, float, float, int]]]  # per image, original pixels
    transforms: list[tuple[float, float, float]]              # per image: scale, pad_x, pad_y


def load_split(items: list[dict[str, Any]], images_dir: Path, class_of: dict[str, int], size: int) -> Split:
    images, boxes, originals, transforms = [], [], [], []
    for item in items:
        canvas, scale, px, py = letterbox(read_rgb(images_dir / f"{item['id']}.jpg"), size)
        original = annotation_boxes(item, class_of)
        mapped = np.array([(x1 * scale + px, y1 * scale + py, x2 * scale + px, y2 * scale + py, c)
                           for x1, y1, x2, y2, c in original], np.float32).reshape(-1, 5)
        images.append(canvas)
        boxes.append(mapped)
        originals.append(original)
        transforms.append((scale, px, py))
    stacked = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return Split(stacked, boxes, originals, transforms)


def targets(boxes: np.ndarray, size: int, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell targets: class scores (cells x classes), box (cells x 4: offset x, offset y, log w, log h)
    and a positive mask. Each object is assigned to its cell, objects of a cell or more also to the two nearest
    neighbouring cells."""
    grid = size // STRIDE
    cls = np.zeros((grid * grid, classes), np.float32)
    box = np.zeros((grid * grid, 4), np.float32)
    positive = np.zeros(grid * grid, np.float32)
    for x1, y1, x2, y2, c in boxes:
        cx, cy, w, h = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE, max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        i, j = min(grid - 1, max(0, int(cy))), min(grid - 1, max(0, int(cx)))
        cells = [(i, j)]
        if min(w, h) >= STRIDE:  # a neighbouring cell sees large objects too, but not a dot in another cell
            cells += [(i, j + (1 if cx - j > 0.5 else -1)), (i + (1 if cy - i > 0.5 else -1), j)]
        for ci, cj in cells:
            if 0 <= ci < grid and 0 <= cj < grid:
                k = ci * grid + cj
                cls[k, int(c)] = 1.0
                box[k] = (cx - cj, cy - ci, np.log(w / ANCHOR), np.log(h / ANCHOR))
                positive[k] = 1.0
    return cls, box, positive


def batch(split: Split, indices: np.ndarray, size: int, classes: int,
          rng: np.random.Generator | None) -> tuple[np.ndarray, ...]:
    """Images (float 0..1) and targets for `indices`, with random horizontal flips and brightness when `rng`."""
    images = split.images[indices].astype(np.float32) / 255.0
    cls, box, pos = [], [], []
    for n, index in enumerate(indices):
        boxes = split.boxes[index].copy()
        if rng is not None and rng.random() < 0.5:
            images[n] = images[n, :, ::-1]
            boxes[:, [0, 2]] = size - boxes[:, [2, 0]]
        if rng is not None:
            images[n] = np.clip(images[n] * rng.uniform(0.8, 1.2), 0.0, 1.0)
        c, b, p = targets(boxes, size, classes)
        cls.append(c)
        box.append(b)
        pos.append(p)
    return images, np.stack(cls), np.stack(box), np.stack(pos)
