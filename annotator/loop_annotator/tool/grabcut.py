"""Segment one object with GrabCut, seeded by a box and foreground / background clicks.

Only a region around the marks is segmented (the box plus a margin, or a square around the clicks), scaled down
so its longer side is at most `work_side` pixels: the cost of an event is then bounded whatever the image size.
Inside the box is "probably the object", outside it "certainly not"; a foreground click paints a small disc of
"certainly the object", a background click one of "certainly not". Without a box, the region's border counts as
background. The result is the connected part of the mask that holds the foreground clicks (or the largest).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .history import Box, Xy

WORK_SIDE = 200      # the region is scaled down to at most this many pixels on its longer side
ITERATIONS = 2       # GrabCut iterations per event (it starts afresh from all marks every time)
BOX_MARGIN = 0.15    # the region is the box grown by this share of its size on each side
CLICK_REGION = 0.25  # without a box: a square of this share of the image's shorter side around the clicks
MARK_RADIUS = 0.012  # the disc a click paints, as a share of the region's longer side (at least 2 work pixels)


@dataclass(frozen=True)
class Region:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive
    scale: float  # work pixels per image pixel

    def to_work(self, x: float, y: float) -> tuple[int, int]:
        return int((x - self.x0 + 0.5) * self.scale), int((y - self.y0 + 0.5) * self.scale)


def region_of(height: int, width: int, box: Box | None, marks: list[Xy], work_side: int) -> Region:
    if box is not None:
        xs = [box[0], box[2], *(x for x, _ in marks)]
        ys = [box[1], box[3], *(y for _, y in marks)]
        margin = int(BOX_MARGIN * max(box[2] - box[0], box[3] - box[1])) + 8
    else:
        xs, ys = [x for x, _ in marks], [y for _, y in marks]
        margin = int(CLICK_REGION * min(height, width) / 2) + 8
    x0, y0 = max(0, min(xs) - margin), max(0, min(ys) - margin)
    x1, y1 = min(width, max(xs) + margin + 1), min(height, max(ys) + margin + 1)
    scale = min(1.0, work_side / max(x1 - x0, y1 - y0))
    return Region(x0, y0, x1, y1, scale)


def _seed_mask(region: Region, shape: tuple[int, int], box: Box | None, foreground: list[Xy],
               background: list[Xy]) -> np.ndarray:
    h, w = shape
    if box is not None:
        mask = np.full((h, w), cv2.GC_BGD, np.uint8)
        bx0, by0 = region.to_work(box[0], box[1])
        bx1, by1 = region.to_work(box[2], box[3])
        mask[max(0, by0):by1 + 1, max(0, bx0):bx1 + 1] = cv2.GC_PR_FGD
    else:
        mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        mask[[0, -1], :] = cv2.GC_BGD
        mask[:, [0, -1]] = cv2.GC_BGD
    radius = max(2, round(MARK_RADIUS * max(h, w)))
    for points, label in ((background, cv2.GC_BGD), (foreground, cv2.GC_FGD)):
        for x, y in points:
            cv2.circle(mask, region.to_work(x, y), radius, int(label), -1)
    return mask


def _component(mask: np.ndarray, seeds: list[tuple[int, int]]) -> np.ndarray:
    """The connected parts of `mask` that hold a seed, or its largest part when no seed lies in it."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    h, w = mask.shape
    keep = {int(labels[y, x]) for x, y in seeds if 0 <= x < w and 0 <= y < h and labels[y, x] > 0}
    if not keep:
        keep = {1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))}
    return np.isin(labels, list(keep)).astype(np.uint8)


def segment(image: np.ndarray, box: Box | None, foreground: list[Xy], background: list[Xy],
            work_side: int = WORK_SIDE, iterations: int = ITERATIONS) -> tuple[np.ndarray, Region] | None:
    """The object's mask in work pixels of the returned region, or None when there is nothing to segment (no box
    and no foreground click)."""
    if box is None and not foreground:
        return None
    height, width = image.shape[:2]
    region = region_of(height, width, box, [*foreground, *background], work_side)
    crop = image[region.y0:region.y1, region.x0:region.x1]
    size = (max(1, round(crop.shape[1] * region.scale)), max(1, round(crop.shape[0] * region.scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if region.scale < 1 else np.ascontiguousarray(crop)
    seeds = _seed_mask(region, small.shape[:2], box, foreground, background)
    has_background = bool(np.any((seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)))
    has_object = bool(np.any((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)))
    if has_background and has_object:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(small, seeds, (0, 0, 0, 0), bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    found = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    return _component(found, [region.to_work(x, y) for x, y in foreground]), region


def outline(mask: np.ndarray, region: Region, epsilon: float) -> list[Xy]:
    """The mask's outer outline in image pixels, simplified so no point moves more than `epsilon` image pixels."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return []
    contour = max(contours, key=cv2.contourArea)
    if epsilon > 0:
        contour = cv2.approxPolyDP(contour, epsilon * region.scale, True)
    points = contour.reshape(-1, 2).astype(np.float64)
    xs = np.clip(np.rint((points[:, 0] + 0.5) / region.scale - 0.5 + region.x0), region.x0, region.x1 - 1)
    ys = np.clip(np.rint((points[:, 1] + 0.5) / region.scale - 0.5 + region.y0), region.y0, region.y1 - 1)
    polygon = [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]
    deduplicated = [p for i, p in enumerate(polygon) if p != polygon[i - 1]] if len(polygon) > 1 else polygon
    return deduplicated if len(deduplicated) >= 3 else []
