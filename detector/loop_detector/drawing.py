"""Detections drawn onto the image they were found in, for `POST /detect?draw=true` (people who script with curl)."""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from loop_shared.schemas import ImageMetadata

from . import images

# the same palette as the pages (loop_shared/static/loop.js), as RGB
PALETTE = [(230, 25, 75), (60, 180, 75), (67, 99, 216), (245, 130, 49), (145, 30, 180), (66, 212, 244),
           (240, 50, 230), (154, 99, 36), (70, 153, 144), (128, 128, 0), (0, 0, 117), (230, 190, 255)]


def colour_of(name: str, colours: dict[str, str]) -> tuple[int, int, int]:
    """The category's own colour (`#rrggbb` from model.json) or a stable pick from the palette."""
    hex_colour = colours.get(name) or ""
    if len(hex_colour) == 7 and hex_colour.startswith("#"):
        try:
            return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)
        except ValueError:
            pass
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def _label(canvas: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int], scale: float) -> None:
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 1.5))
    (w, h), base = cv2.getTextSize(text, font, 0.45 * scale, thickness)
    top = y - h - base - 4 if y - h - base - 4 >= 0 else y
    x = max(0, min(x, canvas.shape[1] - w - 6))  # inside the picture
    cv2.rectangle(canvas, (x, top), (x + w + 6, top + h + base + 4), colour, -1)
    cv2.putText(canvas, text, (x + 3, top + h + 2), font, 0.45 * scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _tint(canvas: np.ndarray, polygon: np.ndarray, colour: tuple[int, int, int], line: int) -> None:
    """Fill `polygon` with `colour` at 30 % over the picture, then outline it: only the polygon's own pixels and its
    outline change, and only the polygon's bounding rectangle is touched (cheap for small objects on big images)."""
    x, y, w, h = cv2.boundingRect(polygon)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [polygon - np.array([x0, y0], np.int32)], 1)
        region = canvas[y0:y1, x0:x1]
        inside = mask.astype(bool)
        region[inside] = (region[inside] * 0.7 + np.array(colour, np.float64) * 0.3 + 0.5).astype(np.uint8)
    cv2.polylines(canvas, [polygon], True, colour, line, cv2.LINE_AA)


def _classifications(canvas: np.ndarray, metadata: ImageMetadata, colours: dict[str, str], scale: float) -> None:
    """The image's classes as labels stacked in the top-left corner, the most confident first."""
    top = 4
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 1.5))
    for item in sorted(metadata.classification_detections, key=lambda c: -c.confidence):
        text = f"{item.category_name} {item.confidence:.0%}"
        (w, h), base = cv2.getTextSize(text, font, 0.55 * scale, thickness)
        cv2.rectangle(canvas, (4, top), (4 + w + 8, top + h + base + 6), colour_of(item.category_name, colours), -1)
        cv2.putText(canvas, text, (8, top + h + 3), font, 0.55 * scale, (255, 255, 255), thickness, cv2.LINE_AA)
        top += h + base + 10


def draw(rgb: np.ndarray, metadata: ImageMetadata, colours: dict[str, str]) -> np.ndarray:
    """A copy of `rgb` with boxes and points outlined, segmentations filled semi-transparent and outlined, each
    labelled with name and confidence, and the classifications listed in the top-left corner."""
    canvas = np.ascontiguousarray(rgb.copy())
    scale = max(1.0, max(canvas.shape[:2]) / 640)
    line = max(2, round(2 * scale))
    for segment in metadata.segmentation_detections:  # first: boxes and labels stay readable on top of a fill
        if isinstance(segment.shape, str) or not segment.shape.points:
            continue
        colour = colour_of(segment.category_name, colours)
        polygon = np.array([(round(p.x), round(p.y)) for p in segment.shape.points], np.int32)
        _tint(canvas, polygon, colour, line)
    for box in metadata.box_detections:
        colour = colour_of(box.category_name, colours)
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.width, box.y + box.height), colour, line)
        _label(canvas, f"{box.category_name} {box.confidence:.0%}", box.x, box.y, colour, scale)
    for point in metadata.point_detections:
        colour = colour_of(point.category_name, colours)
        centre = (round(point.x), round(point.y))
        cv2.circle(canvas, centre, round(6 * scale), colour, -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, round(6 * scale), (255, 255, 255), max(1, line // 2), cv2.LINE_AA)
        _label(canvas, f"{point.category_name} {point.confidence:.0%}", centre[0] + 8, centre[1] - 4, colour, scale)
    for segment in metadata.segmentation_detections:
        if isinstance(segment.shape, str) or not segment.shape.points:
            continue
        first = segment.shape.points[0]
        _label(canvas, f"{segment.category_name} {segment.confidence:.0%}", round(first.x), round(first.y),
               colour_of(segment.category_name, colours), scale)
    _classifications(canvas, metadata, colours, scale)
    return canvas


def drawn_jpeg(rgb: np.ndarray, metadata: ImageMetadata, colours: dict[str, str]) -> bytes:
    return images.encode_jpeg(draw(rgb, metadata, colours), quality=90)
