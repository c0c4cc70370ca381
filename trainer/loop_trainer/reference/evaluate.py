"""Evaluation of the reference detector: NMS, mAP@0.5 and the per-category confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float, int]            # x1, y1, x2, y2, class
Prediction = tuple[float, float, float, float, int, float]  # ... and score


def select(boxes: np.ndarray, scores: np.ndarray, conf: float, iou: float = 0.5,
           limit: int = 100) -> list[tuple[np.ndarray, int, float]]:
    """boxes cells x 4 (cx, cy, w, h), scores cells x classes → [(x1y1x2y2, class, score)] after per-class NMS."""
    classes = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), classes]
    keep = np.flatnonzero(best > conf)
    if keep.size == 0:
        return []
    b = boxes[keep]
    xywh = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
    chosen = np.asarray(cv2.dnn.NMSBoxesBatched(xywh.tolist(), best[keep].tolist(), classes[keep].tolist(),
                                                conf, iou), dtype=np.int64).reshape(-1)[:limit]
    out = []
    for k in keep[chosen]:
        cx, cy, w, h = boxes[k]
        out.append((np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), int(classes[k]), float(best[k])))
    return out


def to_original(box: np.ndarray, scale: float, pad_x: float, pad_y: float, width: int, height: int) -> np.ndarray:
    x1, y1, x2, y2 = (box - np.array([pad_x, pad_y, pad_x, pad_y])) / scale
    return np.array([np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height)])


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


POINT_DISTANCE = 8.0  # a predicted point matches a true one within this many pixels


def _similarity(box: Sequence[float], truth: Sequence[float], point: bool) -> float:
    """IoU for boxes; for points a score in 0..1 that is >= 0.5 exactly when the centres are close enough."""
    if not point:
        return iou(box, truth)
    distance = float(np.hypot((box[0] + box[2] - truth[0] - truth[2]) / 2, (box[1] + box[3] - truth[1] - truth[3]) / 2))
    return max(0.0, 1.0 - distance / (2 * POINT_DISTANCE))


def _match(predictions: list[Prediction], truths: list[Box], threshold: float,
           points: frozenset[int] = frozenset()) -> list[bool]:
    """For predictions sorted by score: whether each is a true positive (greedy, one truth per prediction).
    Classes in `points` match by centre distance, the others by IoU."""
    used = [False] * len(truths)
    hits = []
    for *box, cls, _ in predictions:
        best, best_iou = -1, threshold
        for t, truth in enumerate(truths):
            if not used[t] and truth[4] == cls:
                overlap = _similarity(box, truth, cls in points)
                if overlap >= best_iou:
                    best, best_iou = t, overlap
        if best >= 0:
            used[best] = True
        hits.append(best >= 0)
    return hits


def mean_average_precision(predictions: list[list[Prediction]], truths: list[list[Box]], classes: int,
                           threshold: float = 0.5, points: frozenset[int] = frozenset()) -> float:
    """mAP at IoU `threshold` over the classes that have ground truth (all-point interpolated AP)."""
    aps = []
    for cls in range(classes):
        scored: list[tuple[float, bool]] = []
        total = 0
        for preds, gts in zip(predictions, truths, strict=True):
            mine = sorted((p for p in preds if p[4] == cls), key=lambda p: -p[5])
            own_truths = [t for t in gts if t[4] == cls]
            total += len(own_truths)
            scored.extend(zip((p[5] for p in mine), _match(mine, own_truths, threshold, points), strict=True))
        if total == 0:
            continue
        scored.sort(key=lambda s: -s[0])
        hits = np.array([h for _, h in scored], dtype=np.float64)
        tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
        recall = tp / total
        precision = tp / np.maximum(tp + fp, 1e-9)
        recall = np.concatenate([[0.0], recall, [1.0]])
        precision = np.concatenate([[1.0], precision, [0.0]])
        for i in range(len(precision) - 2, -1, -1):
            precision[i] = max(precision[i], precision[i + 1])
        aps.append(float(np.sum((recall[1:] - recall[:-1]) * precision[1:])))
    return float(np.mean(aps)) if aps else 0.0


def confusion_matrix(predictions: list[list[Prediction]], truths: list[list[Box]], category_ids: list[str],
                     conf: float = 0.25, threshold: float = 0.5,
                     points: frozenset[int] = frozenset()) -> dict[str, dict[str, int]]:
    counts = {cid: {"tp": 0, "fp": 0, "fn": 0} for cid in category_ids}
    for preds, gts in zip(predictions, truths, strict=True):
        confident = sorted((p for p in preds if p[5] >= conf), key=lambda p: -p[5])
        hits = _match(confident, gts, threshold, points)
        for p, hit in zip(confident, hits, strict=True):
            counts[category_ids[p[4]]]["tp" if hit else "fp"] += 1
        for cls, cid in enumerate(category_ids):
            matched = sum(1 for p, hit in zip(confident, hits, strict=True) if hit and p[4] == cls)
            counts[cid]["fn"] += sum(1 for t in gts if t[4] == cls) - matched
    return counts
