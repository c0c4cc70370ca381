"""Turn what clients send (encoded bytes or raw arrays) into RGB arrays, refusing what we cannot use."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError

_DTYPES = {"uint8": np.uint8}


def check_encoded(data: bytes, max_bytes: int, max_pixels: int) -> tuple[int, int]:
    """Validate an encoded image cheaply (header only); returns (width, height)."""
    if not data:
        raise InputError("the image is empty", 400)
    if len(data) > max_bytes:
        raise InputError(f"the image has {len(data)} bytes, more than the limit of {max_bytes}", 413)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"not a decodable image: {e}") from e
    if width * height > max_pixels:
        raise InputError(f"the image has {width}x{height} pixels, more than the limit of {max_pixels}", 413)
    return width, height


def decode(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Decode JPEG/PNG/... bytes into an RGB uint8 array, honouring EXIF orientation."""
    check_encoded(data, max_bytes, max_pixels)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError("the image data is truncated or corrupt")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: one image's pixels in memory, not two


def from_raw(data: bytes, dtype: str, shape: Any, max_pixels: int) -> np.ndarray:
    """A raw array as the reference Socket.IO API sends it: C-order bytes, dtype and shape (h, w, c)."""
    if dtype not in _DTYPES:
        raise InputError(f"unsupported dtype {dtype!r}; send uint8")
    if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3) or \
            not all(isinstance(s, int) and s > 0 for s in shape):
        raise InputError(f"shape must be [height, width] or [height, width, channels], got {shape!r}")
    if shape[0] * shape[1] > max_pixels:
        raise InputError(f"the image has {shape[1]}x{shape[0]} pixels, more than the limit of {max_pixels}", 413)
    expected = int(np.prod(shape))
    if len(data) != expected:
        raise InputError(f"{len(data)} bytes do not fit shape {list(shape)} of {dtype}")
    dims: tuple[int, ...] = tuple(shape)
    array = np.frombuffer(data, dtype=_DTYPES[dtype]).reshape(dims)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_RGBA2RGB)
    if array.shape[2] == 1:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.shape[2] != 3:
        raise InputError(f"images need 1, 3 or 4 channels, got {array.shape[2]}")
    return array


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError("the image could not be encoded as JPEG")
    return buffer.tobytes()
