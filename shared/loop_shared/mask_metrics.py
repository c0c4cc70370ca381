"""Mask average precision: COCO's "segm" figures, for instance masks instead of boxes.

The definition is COCO's (pycocotools COCOeval, iouType="segm", area range "all", 100 detections per image and
class), checked against pycocotools in tests/shared/test_mask_metrics.py: per image and class, candidates sorted
by score (stable) are matched greedily, each to the unmatched reference of its class it overlaps most (the last of
equal overlaps, as COCO) with mask IoU at least the threshold; `detection_metrics.average_precision` reads the
precision at 101 recall points; mAP is the mean over the classes that have references, and mAP@0.5:0.95 the mean
over the ten IoU thresholds 0.5, 0.55, ..., 0.95 as well.

Masks are boolean [H, W] arrays of one image's size, or crops of them placed at an `origin` (what a model's
instance masks are: only the pixels in the instance's box, so a hundred candidates of a large image stay small).
Mask IoU is computed only for pairs whose bounding boxes touch, inside the overlap of the two boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from loop_shared.detection_metrics import average_precision, greedy_match

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly COCOeval's iouThrs
MAX_DETECTIONS = 100                          # COCOeval's largest maxDets, per image and class
SUBPIXEL_BITS = 8
SUBPIXEL = 1 << SUBPIXEL_BITS


def polygon_mask(points: Sequence[tuple[float, float]], height: int, width: int) -> np.ndarray:
    """The pixels inside a polygon (x, y in pixels), as bool [height, width]; fewer than 3 points: empty."""
    if len(points) < 3:
        return np.zeros((height, width), bool)
    mask = np.zeros((height, width), np.uint8)
    # fixed point with 8 fractional bits: sub-pixel vertices, boundary pixels included (as the outline is)
    vertices = np.round(np.asarray(points, np.float64) * SUBPIXEL).astype(np.int32)
    cv2.fillPoly(mask, [vertices], 1, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
    return mask.astype(bool)


@dataclass
class MaskInstance:
    category: int
    score: float
    mask: np.ndarray = field(repr=False)  # bool [H, W]: the whole image, or a crop of it placed at `origin`
    origin: tuple[int, int] = (0, 0)      # (x, y) of mask[0, 0] in the image, when `mask` is a crop


@dataclass(frozen=True)
class _Tight:
    """A mask cut to the box of its pixels: the pixels, where they start in the image, and how many are set."""

    pixels: np.ndarray
    y0: int
    x0: int
    area: int


def _tight(mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> _Tight:
    mask = np.asarray(mask, bool)
    ys = np.flatnonzero(np.asarray(mask.any(axis=1)))
    if not len(ys):
        return _Tight(np.zeros((0, 0), bool), 0, 0, 0)
    xs = np.flatnonzero(np.asarray(mask.any(axis=0)))
    pixels = mask[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
    return _Tight(pixels, int(ys[0]) + origin[1], int(xs[0]) + origin[0], int(np.count_nonzero(pixels)))


def _iou(a: list[_Tight], b: list[_Tight]) -> np.ndarray:
    """IoU of every tight mask in a with every one in b, computed only where their boxes overlap."""
    result = np.zeros((len(a), len(b)), np.float64)
    if not a or not b:
        return result
    box_a = np.array([(t.y0, t.y0 + t.pixels.shape[0], t.x0, t.x0 + t.pixels.shape[1]) for t in a], np.int64)
    box_b = np.array([(t.y0, t.y0 + t.pixels.shape[0], t.x0, t.x0 + t.pixels.shape[1]) for t in b], np.int64)
    y0 = np.maximum(box_a[:, None, 0], box_b[None, :, 0])
    y1 = np.minimum(box_a[:, None, 1], box_b[None, :, 1])
    x0 = np.maximum(box_a[:, None, 2], box_b[None, :, 2])
    x1 = np.minimum(box_a[:, None, 3], box_b[None, :, 3])
    for i, j in zip(*np.nonzero((y1 > y0) & (x1 > x0)), strict=True):
        ta, tb = a[i], b[j]
        top, bottom, left, right = int(y0[i, j]), int(y1[i, j]), int(x0[i, j]), int(x1[i, j])
        inter = int(np.count_nonzero(ta.pixels[top - ta.y0:bottom - ta.y0, left - ta.x0:right - ta.x0]
                                     & tb.pixels[top - tb.y0:bottom - tb.y0, left - tb.x0:right - tb.x0]))
        union = ta.area + tb.area - inter
        if union > 0:
            result[i, j] = inter / union
    return result


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every mask in a (bool [n, H, W]) with every mask in b (bool [m, H, W]): float [n, m]; 0 where they
    do not touch or both are empty."""
    if len(a) and len(b) and np.shape(a)[1:] != np.shape(b)[1:]:
        raise ValueError(f"masks of different sizes: {np.shape(a)[1:]} and {np.shape(b)[1:]}")
    return _iou([_tight(m) for m in a], [_tight(m) for m in b])


def _match_last_of_equals(overlap: np.ndarray, threshold: float) -> np.ndarray:
    """greedy_match, but among equal best overlaps the last reference wins, as in COCOeval.evaluateImg."""
    if overlap.shape[1] == 0:
        return np.full(overlap.shape[0], -1)
    reversed_matches = greedy_match(overlap[:, ::-1], threshold)
    return np.where(reversed_matches >= 0, overlap.shape[1] - 1 - reversed_matches, -1)


def mask_map(references: list[list[MaskInstance]], candidates: list[list[MaskInstance]],
             classes: int) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) of `candidates` against `references`, image by image (both lists in the same
    order), over categories 0 .. classes-1 that have a reference; nan when none has."""
    if len(references) != len(candidates):
        raise ValueError(f"{len(candidates)} candidate lists for {len(references)} images")
    totals = np.zeros(classes, np.int64)
    scores: list[list[float]] = [[] for _ in range(classes)]
    hits: list[list[np.ndarray]] = [[] for _ in range(classes)]  # per class: [detections, thresholds] per image
    for refs, cands in zip(references, candidates, strict=True):
        for category in range(classes):
            own_refs = [r for r in refs if r.category == category]
            own = sorted((c for c in cands if c.category == category), key=lambda c: -c.score)[:MAX_DETECTIONS]
            totals[category] += len(own_refs)
            if not own:
                continue
            scores[category].extend(c.score for c in own)
            matched = np.zeros((len(own), len(IOU_THRESHOLDS)), bool)
            if own_refs:
                overlap = _iou([_tight(c.mask, c.origin) for c in own],
                               [_tight(r.mask, r.origin) for r in own_refs])
                for t, threshold in enumerate(IOU_THRESHOLDS):
                    matched[:, t] = _match_last_of_equals(overlap, min(float(threshold), 1 - 1e-10)) >= 0
            hits[category].append(matched)
    ap = np.full((classes, len(IOU_THRESHOLDS)), np.nan)
    for category in range(classes):
        if totals[category] == 0:
            continue
        found = np.concatenate(hits[category]) if hits[category] else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        for t in range(len(IOU_THRESHOLDS)):
            ap[category, t] = average_precision(np.array(scores[category], np.float64),
                                                found[:, t].astype(np.float64), int(totals[category]))
    present = ~np.isnan(ap[:, 0])
    if not present.any():
        return float("nan"), float("nan")
    return float(np.mean(ap[present, 0])), float(np.mean(ap[present]))
