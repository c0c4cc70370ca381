"""Training data of the reference classifier: each image and the class of its classification annotation, augmented
samples, and the letterboxed inputs the detector also feeds the model.

A sample is a CROP x CROP window of the image at the model input's scale (times 0.8 to 1.2), flipped half of the
time and, as `turned` asks, turned by quarter turns, then jittered in colour, blur and noise as the detector's
samples are (..data). The window is centred on a salient point: one drawn with a probability that grows with the
square of the local contrast (the colour difference of a small and a large Gaussian blur), so most windows show an
object and the image's class, not an empty stretch of background. The model is fully convolutional: it is
trained on windows and validated and exported on the whole letterboxed image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import colour_jitter, letterbox, read_rgb


def label_of(item: dict[str, Any], class_of: dict[str, int]) -> int | None:
    """The class of an image's classification annotation (by category id, else by name), or None."""
    annotation = item.get("classification_annotation")
    if not isinstance(annotation, dict):
        return None
    if annotation.get("category_id") in class_of:
        return class_of[annotation["category_id"]]
    by_name = annotation.get("category_name")
    return class_of.get(by_name) if isinstance(by_name, str) else None


CROP = 80              # side of a training window in model-input pixels (at most the input's shorter side)
SALIENCY_STEP = 4      # the saliency map's cell, in model-input pixels
CENTRE_JITTER = 4.0    # standard deviation of the window centre around the drawn point, model-input pixels


@dataclass
class Images:
    ids: list[str]
    images: list[np.ndarray]   # original RGB uint8
    labels: np.ndarray         # class per image
    saliency: dict[int, np.ndarray] = field(default_factory=dict)  # per image, computed when first sampled

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


COLOUR_BINS = 4        # per channel, for the colour histograms of colour_tells_apart
COLOUR_MARGIN = 0.25   # share of the way from the majority class's rate to 1 that colours alone must go


def colour_histograms(images: list[np.ndarray]) -> np.ndarray:
    """Per image, the square roots of its normalised COLOUR_BINS^3 colour histogram (images x bins)."""
    step = 256 // COLOUR_BINS
    out = np.zeros((len(images), COLOUR_BINS ** 3), np.float64)
    for k, image in enumerate(images):
        q = image.reshape(-1, 3) // step
        counts = np.bincount((q[:, 0] * COLOUR_BINS + q[:, 1]) * COLOUR_BINS + q[:, 2], minlength=COLOUR_BINS ** 3)
        out[k] = np.sqrt(counts / max(1, counts.sum()))
    return out


def colour_tells_apart(split: Images) -> tuple[bool, float, float]:
    """Whether the images' colours alone tell their classes apart: the leave-one-out accuracy of the nearest class
    mean of colour histograms, against the rate of the most common class (returned with the verdict). It must go
    COLOUR_MARGIN of the way from that rate to 1. Generated `easy` projects (a colour per class) reach 0.98 to 1.0,
    `hard` ones (random colours) stay at the majority rate (0.25 to 0.30 against 0.27 to 0.28)."""
    labels = split.labels
    if len(labels) < 2:
        return True, 0.0, 1.0
    majority = float(np.bincount(labels).max() / len(labels))
    features = colour_histograms(split.images)
    classes = np.unique(labels)
    index = np.searchsorted(classes, labels)
    sums = np.stack([features[labels == c].sum(axis=0) for c in classes])
    counts = np.bincount(index, minlength=len(classes)).astype(np.float64)
    right = 0
    for k in range(len(labels)):
        own = index[k]
        means, n = sums.copy(), counts.copy()
        means[own] -= features[k]
        n[own] -= 1
        usable = n > 0
        means = means[usable] / n[usable, None]
        right += int(classes[usable][np.argmin(np.square(means - features[k]).sum(axis=1))] == labels[k])
    accuracy = right / len(labels)
    return accuracy >= majority + COLOUR_MARGIN * (1 - majority), accuracy, majority


def input_size(images: list[np.ndarray], resolution: int) -> tuple[int, int]:
    """(height, width): the longer side `resolution`, the shorter one following the images' typical aspect ratio,
    both multiples of 32 (as the detector's input)."""
    if not images:
        return resolution, resolution
    ratio = float(np.median([img.shape[0] / img.shape[1] for img in images]))
    if ratio <= 1:
        return max(32, round(resolution * ratio / 32) * 32), resolution
    return resolution, max(32, round(resolution / ratio / 32) * 32)


def crop_size(height: int, width: int) -> int:
    """The side of the training windows for a model input of height x width (a multiple of 16)."""
    return max(16, min(CROP, height, width) // 16 * 16)


def saliency(image: np.ndarray, scale: float) -> np.ndarray:
    """The probability of each SALIENCY_STEP cell (of the image at `scale`) to centre a window, flattened row-major;
    the map's shape is (ceil(h * scale / STEP), ceil(w * scale / STEP))."""
    cell = SALIENCY_STEP / scale
    f = image.astype(np.float32)
    contrast = cv2.GaussianBlur(f, (0, 0), 3 * cell / SALIENCY_STEP) - cv2.GaussianBlur(f, (0, 0),
                                                                                       12 * cell / SALIENCY_STEP)
    strength = np.sqrt((contrast * contrast).sum(axis=-1))
    rows, cols = saliency_shape(image.shape, scale)
    small = cv2.resize(strength, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float64) ** 2
    total = small.sum()
    flat: np.ndarray = (small / total).ravel() if total > 0 else np.full(small.size, 1 / small.size)
    return flat


def saliency_shape(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    cell = SALIENCY_STEP / scale
    return max(1, int(np.ceil(shape[0] / cell))), max(1, int(np.ceil(shape[1] / cell)))


def sample(image: np.ndarray, height: int, width: int, rng: np.random.Generator, turned: float,
           salient: np.ndarray | None = None) -> np.ndarray:
    """One augmented training window (uint8 crop x crop x 3, crop = crop_size(height, width)) of an image whose
    model input is height x width; `salient` is its saliency (else the window's centre is uniform)."""
    h, w = image.shape[:2]
    crop = crop_size(height, width)
    fit = min(width / w, height / h)
    scale = fit * rng.uniform(0.8, 1.2)
    if salient is not None:
        cols = saliency_shape(image.shape, fit)[1]
        k = int(rng.choice(len(salient), p=salient))
        cell = SALIENCY_STEP / fit
        cy = (k // cols + 0.5) * cell + rng.normal(0, CENTRE_JITTER / fit)
        cx = (k % cols + 0.5) * cell + rng.normal(0, CENTRE_JITTER / fit)
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    half = crop / 2 / scale  # keep the window inside the image where the image is larger than it
    cx = float(np.clip(cx, half, w - half)) if w > 2 * half else w / 2
    cy = float(np.clip(cy, half, h - half)) if h > 2 * half else h / 2
    turns = int(rng.integers(1, 4)) if turned and rng.random() < turned else 0
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][turns]
    linear = scale * np.array([[c, -s], [s, c]], np.float64)
    if rng.random() < 0.5:
        linear[:, 0] *= -1
    matrix = np.concatenate([linear, (np.array([crop / 2, crop / 2]) - linear @ (cx, cy))[:, None]], axis=1)
    matrix[:, 2] += matrix[:, :2] @ (0.5, 0.5) - 0.5  # continuous coordinates → OpenCV's pixel centres
    warped = cv2.warpAffine(image, matrix, (crop, crop), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return colour_jitter(warped, rng)


def batch(split: Images, indices: np.ndarray, height: int, width: int, rng: np.random.Generator,
          turned: float) -> tuple[np.ndarray, np.ndarray]:
    """Training windows (N x crop x crop x 3 uint8) and their classes for `indices`."""
    fit = {int(k): min(width / split.images[int(k)].shape[1], height / split.images[int(k)].shape[0])
           for k in indices}
    for k in fit:
        if k not in split.saliency:
            split.saliency[k] = saliency(split.images[k], fit[k])
    images = np.stack([sample(split.images[int(k)], height, width, rng, turned, split.saliency[int(k)])
                       for k in indices])
    return images, split.labels[indices]


def model_input(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """H x W x 3 floats in 0..1, letterboxed exactly as the detector does it."""
    canvas = letterbox(image, height, width)[0]
    result: np.ndarray = canvas.astype(np.float32) / 255.0
    return result
