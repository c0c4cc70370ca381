"""Image geometry every node must agree on: how an image is letterboxed into a model's input.

The detector, the trainer and the converter's calibration all use this one function, so a model sees the same
pixels in training, calibration and serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled and padded into the model input."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


def letterbox(image: np.ndarray, width: int, height: int, keep_ratio: bool = True,
              pad_value: int = PAD_VALUE) -> tuple[np.ndarray, Letterbox]:
    """Resize `image` into width x height; with `keep_ratio`, keep the aspect ratio and pad centred."""
    h, w = image.shape[:2]
    if not keep_ratio:
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        return resized, Letterbox(width / w, height / h, 0.0, 0.0)
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image
    pad_x, pad_y = (width - nw) // 2, (height - nh) // 2
    canvas = np.full((height, width, 3), pad_value, dtype=np.uint8)
    canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
    return canvas, Letterbox(nw / w, nh / h, float(pad_x), float(pad_y))


def to_tensor(rgb: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """HxWx3 uint8 → 1x3xHxW floats in 0..1, the input layout of the models we run."""
    tensor = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis], dtype=dtype)
    tensor *= dtype(1 / 255)
    return tensor
