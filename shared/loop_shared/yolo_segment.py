"""Instance masks from a YOLO segmentation model: mask coefficients and prototypes → polygons in image pixels.

The common export layout (Ultralytics' segment models): `output0` holds the detections, `[1, 4 + C + M, N]` (box
centre and size, C class scores, M mask coefficients per candidate), and `output1` the mask prototypes,
`[1, M, H/4, W/4]`. An instance's mask is the sigmoid of its coefficients times the prototypes. Masks are
computed for kept detections only (after thresholds and NMS), inside their box at the prototype resolution, and
only then upsampled, straight into the image's own pixels (undoing the letterbox like the boxes), so the cost
grows with the kept objects' area and not with the prototype planes. Shared, so that the detector serving a model
and the converter checking a converted one read masks the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .imaging import Letterbox

ULTRALYTICS_SEGMENT = "ultralytics_segment"  # output0 [1, 4 + C + M, N] and output1 [1, M, H/4, W/4]
MASK_THRESHOLD = 0.5  # on the sigmoid; the same as a logit above 0, which is what is compared
POLYGON_TOLERANCE = 1.0  # image pixels a simplified outline may stray from the mask's own outline


def coefficients(output: np.ndarray, classes: int, keep: np.ndarray) -> np.ndarray:
    """The mask coefficients of the kept candidates, [K, M], from the detections output [1, 4 + C + M, N]."""
    return np.ascontiguousarray(output[0, 4 + classes:][:, keep].T, dtype=np.float32)


def _window(low: float, high: float, size: int) -> tuple[int, int]:
    """Prototype pixels needed to interpolate inside [low, high): those whose centres lie within, plus one."""
    start = min(max(math.floor(low - 0.5), 0), size - 1)
    stop = max(min(math.ceil(high + 0.5), size), start + 1)
    return start, stop


def instance_mask(coefficient: np.ndarray, protos: np.ndarray, box: np.ndarray, input_size: tuple[int, int],
                  lb: Letterbox, region: tuple[int, int, int, int]) -> np.ndarray:
    """One instance's mask over `region` (x, y, width, height in image pixels), uint8 0 or 1 (see `_logits`)."""
    return (_logits(coefficient, protos, box, input_size, lb, region) > 0.0).astype(np.uint8)


def _logits(coefficient: np.ndarray, protos: np.ndarray, box: np.ndarray, input_size: tuple[int, int],
            lb: Letterbox, region: tuple[int, int, int, int]) -> np.ndarray:
    """One instance's mask logits over `region` (x, y, width, height in image pixels), float32.

    `protos` is [M, h, w]; `box` the instance's box as x1, y1, x2, y2 in model-input pixels; `input_size` the
    model input (width, height). Only the prototype pixels under the box are combined (cropped before
    upsampling); bilinear interpolation then maps them onto the image pixels of `region`.
    """
    per_x, per_y = protos.shape[2] / input_size[0], protos.shape[1] / input_size[1]
    logits, bx, by = _window_logits(coefficient, protos, box, per_x, per_y, lb, region)
    ax, ay = lb.scale_x * per_x, lb.scale_y * per_y
    aligned = _aligned_resize(logits, ax, bx, ay, by, region[2], region[3])
    return aligned if aligned is not None else _warped(logits, ax, bx, ay, by, region[2], region[3])


def _window_logits(coefficient: np.ndarray, protos: np.ndarray, box: np.ndarray, per_x: float, per_y: float,
                   lb: Letterbox, region: tuple[int, int, int, int]) -> tuple[np.ndarray, float, float]:
    """The logits of the prototype window under `box` (`per_x`, `per_y`: prototype pixels per model pixel), and
    bx, by of the map onto `region`: image pixel (u, v) of the region lies at window pixel (ax * u + bx,
    ay * v + by), with ax, ay = the letterbox's scale times per_x, per_y."""
    planes, proto_h, proto_w = protos.shape
    x0, x1 = _window(box[0] * per_x, box[2] * per_x, proto_w)
    y0, y1 = _window(box[1] * per_y, box[3] * per_y, proto_h)
    window = protos[:, y0:y1, x0:x1]
    # the product is float32 already unless both inputs are float16: copied only then
    logits = (coefficient @ window.reshape(planes, -1)).reshape(y1 - y0, x1 - x0).astype(np.float32, copy=False)
    # image pixel (u, v) of the region has its centre at region + u + 0.5 in image coordinates; letterboxed,
    # scaled to the prototypes and relative to the window's first pixel centre, that is a * u + b
    bx = ((region[0] + 0.5) * lb.scale_x + lb.pad_x) * per_x - 0.5 - x0
    by = ((region[1] + 0.5) * lb.scale_y + lb.pad_y) * per_y - 0.5 - y0
    return logits, bx, by


def _warped(logits: np.ndarray, ax: float, bx: float, ay: float, by: float, width: int, height: int) -> np.ndarray:
    warp = np.array([[ax, 0.0, bx], [0.0, ay, by]], np.float64)
    return cv2.warpAffine(logits, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _whole(value: float) -> int | None:
    nearest = round(value)
    return nearest if abs(value - nearest) < 1e-6 else None


def _aligned_resize(logits: np.ndarray, ax: float, bx: float, ay: float, by: float, width: int,
                    height: int) -> np.ndarray | None:
    """The same bilinear map as the warp, as a plain resize and a crop, when it is one: each image pixel a whole
    fraction 1/k of a prototype pixel and the region starting on a whole pixel of the resized grid (an image the
    model input's size or a whole multiple of it). A resize by k maps pixel u to (u + 0.5) / k - 0.5, so pixel
    u - offset of the region is a * u + b when a = 1/k and offset = (b + 0.5 - 0.5 / k) * k. Several times faster
    than the warp; None when the map is not of that form."""
    place = _aligned_place(_whole(1 / ax), _whole(1 / ay), bx, by, width, height, *logits.shape)
    if place is None:
        return None
    resized = _upsampled(logits, place[0], place[1])
    ox, oy = place[2], place[3]
    return resized[oy:oy + height, ox:ox + width]


def _aligned_place(kx: int | None, ky: int | None, bx: float, by: float, width: int, height: int, rows: int,
                   cols: int) -> tuple[int, int, int, int] | None:
    """(kx, ky, ox, oy): the whole upsampling of `_aligned_resize` and where the region starts in it, or None."""
    if not kx or not ky:
        return None
    ox, oy = _whole((bx + 0.5) * kx - 0.5), _whole((by + 0.5) * ky - 0.5)
    if ox is None or oy is None or ox < 0 or oy < 0 or ox + width > cols * kx or oy + height > rows * ky:
        return None
    return kx, ky, ox, oy


def _upsampled(logits: np.ndarray, kx: int, ky: int) -> np.ndarray:
    rows, cols = logits.shape
    # into an array numpy allocated: one allocated by OpenCV takes the GIL back inside the call, a hand-over that
    # costs a context switch when other inference threads wait for the GIL
    return cv2.resize(logits, (cols * kx, rows * ky), dst=np.empty((rows * ky, cols * kx), np.float32),
                      interpolation=cv2.INTER_LINEAR)


def mask_polygon(mask: np.ndarray, origin: tuple[int, int],
                 tolerance: float = POLYGON_TOLERANCE) -> list[tuple[int, int]] | None:
    """The outline of the largest part of `mask` as integer image pixels (offset by `origin`), simplified to
    `tolerance` pixels with Douglas-Peucker; None when the mask holds no part with an area.

    The Loop's shape is one polygon without holes, so other parts and holes are left out.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    # mostly one part: no areas to compare then (each OpenCV call also hands the GIL over and back)
    largest = contours[0] if len(contours) == 1 else max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    simplified = cv2.approxPolyDP(largest, tolerance, True).reshape(-1, 2)
    if len(simplified) < 3:
        return None
    return [(int(x) + origin[0], int(y) + origin[1]) for x, y in simplified.tolist()]


def instance_polygon(coefficient: np.ndarray, protos: np.ndarray, box: np.ndarray, input_size: tuple[int, int],
                     lb: Letterbox, image_box: tuple[int, int, int, int]) -> list[tuple[int, int]] | None:
    """The polygon of one kept instance in image pixels; `image_box` is its box there (x, y, width, height)."""
    return instance_polygons(coefficient[np.newaxis], protos, np.asarray(box)[np.newaxis], input_size, lb,
                             [image_box])[0]


def instance_polygons(coefficients: np.ndarray, protos: np.ndarray, boxes: np.ndarray, input_size: tuple[int, int],
                      lb: Letterbox, image_boxes: Sequence[tuple[int, int, int, int]],
                      tolerance: float = POLYGON_TOLERANCE) -> list[list[tuple[int, int]] | None]:
    """`instance_polygon` for all kept instances of one image: `coefficients` [K, M], `boxes` [K, 4] (x1, y1, x2,
    y2 in model-input pixels), `image_boxes` K boxes in image pixels (x, y, width, height). The same polygons, with
    what is the same for all instances worked out once: the upsampling and the prototype window arithmetic."""
    per_x, per_y = protos.shape[2] / input_size[0], protos.shape[1] / input_size[1]  # per model pixel
    ax, ay = lb.scale_x * per_x, lb.scale_y * per_y
    kx, ky = _whole(1 / ax), _whole(1 / ay)
    polygons: list[list[tuple[int, int]] | None] = []
    # the boxes' own numbers (float32 from a model), as `_logits` reads them
    for coefficient, box, image_box in zip(coefficients, boxes, image_boxes, strict=True):
        width, height = image_box[2], image_box[3]
        if width < 1 or height < 1:
            polygons.append(None)
            continue
        logits, bx, by = _window_logits(coefficient, protos, box, per_x, per_y, lb, image_box)
        place = _aligned_place(kx, ky, bx, by, width, height, *logits.shape)
        if place is not None:
            # 1 where the logit is positive over the whole upsampling, contiguous (twice as fast as over the
            # region's strided view), then the region's view of it; the booleans' bytes read as uint8 without a copy
            ox, oy = place[2], place[3]
            mask = (_upsampled(logits, place[0], place[1]) > 0.0).view(np.uint8)[oy:oy + height, ox:ox + width]
        else:
            mask = (_warped(logits, ax, bx, ay, by, width, height) > 0.0).view(np.uint8)
        polygons.append(mask_polygon(mask, (image_box[0], image_box[1]), tolerance))
    return polygons
