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


def _fit(w: int, h: int, width: int, height: int, keep_ratio: bool) -> tuple[int, int, int, int]:
    """Size (nw, nh) of the resized image and its top-left offset (pad_x, pad_y) inside width x height."""
    if not keep_ratio:
        return width, height, 0, 0
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    return nw, nh, (width - nw) // 2, (height - nh) // 2


def _resized(image: np.ndarray, nw: int, nh: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image


def letterbox(image: np.ndarray, width: int, height: int, keep_ratio: bool = True,
              pad_value: int = PAD_VALUE) -> tuple[np.ndarray, Letterbox]:
    """Resize `image` into width x height; with `keep_ratio`, keep the aspect ratio and pad centred."""
    h, w = image.shape[:2]
    nw, nh, pad_x, pad_y = _fit(w, h, width, height, keep_ratio)
    resized = _resized(image, nw, nh)
    if (nw, nh) == (width, height):  # nothing to pad; a copy all the same, as callers may write into it
        return resized if resized is not image else image.copy(), Letterbox(nw / w, nh / h, 0.0, 0.0)
    canvas = np.full((height, width, 3), pad_value, dtype=np.uint8)
    canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
    return canvas, Letterbox(nw / w, nh / h, float(pad_x), float(pad_y))


def to_tensor(rgb: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """HxWx3 uint8 → 1x3xHxW floats in 0..1, the input layout of the models we run."""
    tensor = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis], dtype=dtype)
    tensor *= dtype(1 / 255)
    return tensor


def letterbox_into(image: np.ndarray, out: np.ndarray, keep_ratio: bool = True,
                   pad_value: int = PAD_VALUE) -> Letterbox:
    """`to_tensor(letterbox(image, ...))` written straight into `out` (1x3xHxW floats), value for value the same,
    without the intermediate canvas and tensor: for a serving loop that reuses one input buffer per thread."""
    height, width = out.shape[2], out.shape[3]
    h, w = image.shape[:2]
    nw, nh, pad_x, pad_y = _fit(w, h, width, height, keep_ratio)
    scale = out.dtype.type(1 / 255)
    pad = out.dtype.type(pad_value) * scale
    planes = out[0]
    planes[:, :pad_y] = pad
    planes[:, pad_y + nh:] = pad
    planes[:, pad_y:pad_y + nh, :pad_x] = pad
    planes[:, pad_y:pad_y + nh, pad_x + nw:] = pad
    np.multiply(_resized(image, nw, nh).transpose(2, 0, 1), scale, out=planes[:, pad_y:pad_y + nh, pad_x:pad_x + nw])
    return Letterbox(nw / w, nh / h, float(pad_x), float(pad_y))
