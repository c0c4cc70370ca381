"""Smaller uploads for thin links: scale images down to a longest side and re-encode them as JPEG at a quality.

The detections sent with an image describe it in its own pixels, so they are scaled with it (boxes, points,
segmentation outlines). Without `LOOP_UPLOAD_MAX_SIDE` and `LOOP_UPLOAD_JPEG_QUALITY` an image goes as it came.
"""

from __future__ import annotations

import cv2
import numpy as np

from loop_shared.schemas import ImageMetadata, Shape

DEFAULT_QUALITY = 85


def scale_metadata(metadata: ImageMetadata, factor: float) -> None:
    """Scale every located detection of `metadata` by `factor`, in place."""
    for box in metadata.box_detections:
        x2, y2 = (box.x + box.width) * factor, (box.y + box.height) * factor
        box.x, box.y = round(box.x * factor), round(box.y * factor)
        box.width, box.height = max(1, round(x2) - box.x), max(1, round(y2) - box.y)
    for point in metadata.point_detections:
        point.x, point.y = round(point.x * factor, 2), round(point.y * factor, 2)
    for segmentation in metadata.segmentation_detections:
        if isinstance(segmentation.shape, Shape):
            for p in segmentation.shape.points:
                p.x, p.y = round(p.x * factor, 2), round(p.y * factor, 2)


def shrink(rgb: np.ndarray, metadata: ImageMetadata, max_side: int | None,
           quality: int | None) -> bytes | None:
    """The image to upload as JPEG bytes, made smaller as configured (metadata scaled to match); None when nothing
    is configured and the image may go as it came."""
    if max_side is None and quality is None:
        return None
    height, width = rgb.shape[:2]
    factor = min(1.0, (max_side or max(height, width)) / max(height, width))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        scale_metadata(metadata, factor)
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_QUALITY])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return buffer.tobytes()
