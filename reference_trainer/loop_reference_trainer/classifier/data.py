"""Training data of the reference classifier: each image and the class of its classification annotation, augmented
samples, and the letterboxed inputs the detector also feeds the model.

A sample is the whole image, placed by one affine warp (scale 0.85 to 1.15, a shift that keeps most of it in
view, a horizontal flip and, as `turned` asks, quarter turns), then jittered in colour, blur and noise as the
detector's samples are (..data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import _colour, _placement, letterbox, read_rgb


def label_of(item: dict[str, Any], class_of: dict[str, int]) -> int | None:
    """The class of an image's classification annotation (by category id, else by name), or None."""
    annotation = item.get("classification_annotation")
    if not isinstance(annotation, dict):
        return None
    if annotation.get("category_id") in class_of:
        return class_of[annotation["category_id"]]
    by_name = annotation.get("category_name")
    return class_of.get(by_name) if isinstance(by_name, str) else None


@dataclass
class Images:
    ids: list[str]
    images: list[np.ndarray]   # original RGB uint8
    labels: np.ndarray         # class per image

    def __len__(self) -> int:
        return len(self.images)


def load_images(items: list[dict[str, Any]], images_dir: Path, class_of: dict[str, int]) -> Images:
    """The images of `items` that have a classification annotation of a known category."""
    ids, images, labels = [], [], []
    for item in items:
        label = label_of(item, class_of)
        if label is None:
            continue
        ids.append(str(item["id"]))
        images.append(read_rgb(images_dir / f"{item['id']}.jpg"))
        labels.append(label)
    return Images(ids, images, np.array(labels, np.int32))


def input_size(images: list[np.ndarray], resolution: int) -> tuple[int, int]:
    """(height, width): the longer side `resolution`, the shorter one following the images' typical aspect ratio,
    both multiples of 32 (as the detector's input)."""
    if not images:
        return resolution, resolution
    ratio = float(np.median([img.shape[0] / img.shape[1] for img in images]))
    if ratio <= 1:
        return max(32, round(resolution * ratio / 32) * 32), resolution
    return resolution, max(32, round(resolution / ratio / 32) * 32)


def sample(image: np.ndarray, height: int, width: int, rng: np.random.Generator, turned: float) -> np.ndarray:
    """One augmented training sample, uint8 H x W x 3."""
    turns = int(rng.integers(1, 4)) if turned and rng.random() < turned else 0
    matrix = _placement(image.shape, height, width, rng.uniform(0.85, 1.15), rng, rng.random() < 0.5, turns)
    matrix[:, 2] += matrix[:, :2] @ (0.5, 0.5) - 0.5  # continuous coordinates → OpenCV's pixel centres
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))
    return _colour(warped, rng)


def batch(split: Images, indices: np.ndarray, height: int, width: int, rng: np.random.Generator,
          turned: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples (N x H x W x 3 uint8) and their classes for `indices`."""
    images = np.stack([sample(split.images[int(k)], height, width, rng, turned) for k in indices])
    return images, split.labels[indices]


def model_input(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """H x W x 3 floats in 0..1, letterboxed exactly as the detector does it."""
    canvas = letterbox(image, height, width)[0]
    result: np.ndarray = canvas.astype(np.float32) / 255.0
    return result
