"""Evaluation of the reference detector: NMS, COCO-style average precision, precision and recall at the model's
threshold, and the per-category confusion counts the Loop shows.

Average precision follows COCO's definition, as loop_shared.detection_metrics computes it for the converter too:
per class and IoU threshold, detections (the 100 best per image) sorted by score are matched greedily to the
unmatched true object they overlap most; precision is made monotone and read at 101 recall points. mAP@0.5 is
the mean over classes with objects at IoU 0.5, mAP@0.5:0.95 the mean over IoU 0.50, 0.55, ..., 0.95. Point
classes match by centre distance instead of IoU (a similarity that is 1 at the same place and 0.5 at
POINT_DISTANCE pixels). tests/reference_trainer checks the figures against pycocotools.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from loop_shared.detection_metrics import average_precision, greedy_match, pairwise_iou
from loop_shared.yolo import DEFAULT_IOU_THRESHOLD
from loop_shared.yolo import select as nms

Box = tuple[float, float, float, float, int]            # x1, y1, x2, y2, class
Prediction = tuple[float, float, float, float, int, float]  # ... and score

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
POINT_DISTANCE = 8.0
MAX_DETECTIONS = 100
F1_TOLERANCE = 0.02   # F1 differences this small are within the noise of a validation split
# per-class NMS as the detector's default; 0.6 kept a second, shifted box on many triangles (0.45 gave test
# mAP@0.5 +0.008 to +0.012 with the same models on three hard projects)
NMS_IOU = DEFAULT_IOU_THRESHOLD


def select(boxes: np.ndarray, scores: np.ndarray, conf: float, iou: float = NMS_IOU,
           limit: int = MAX_DETECTIONS) -> list[tuple[np.ndarray, int, float]]:
    """boxes cells x 4 (cx, cy, w, h), scores cells x classes → [(x1y1x2y2, class, score)] after the detector's
    per-class NMS, best first."""
    return [(xyxy, cls, score) for _, xyxy, cls, score in select_cells(boxes, scores, conf, iou, limit)]


def select_cells(boxes: np.ndarray, scores: np.ndarray, conf: float, iou: float = NMS_IOU,
                 limit: int = MAX_DETECTIONS) -> list[tuple[int, np.ndarray, int, float]]:
    """As `select`, each detection with the index of its cell first (where a mask's coefficients are)."""
    classes = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), classes]
    kept = nms(boxes, best, classes, conf, iou)
    out = []
    for k in kept[np.argsort(-best[kept], kind="stable")][:limit]:
        cx, cy, w, h = boxes[k]
        out.append((int(k), np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), int(classes[k]),
                    float(best[k])))
    return out


def to_original(box: np.ndarray, scale: float, pad_x: float, pad_y: float, width: int, height: int) -> np.ndarray:
    x1, y1, x2, y2 = (box - np.array([pad_x, pad_y, pad_x, pad_y])) / scale
    return np.array([np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height)])


def similarity(a: np.ndarray, b: np.ndarray, point: bool) -> np.ndarray:
    """Pairwise IoU of boxes a (n x 4) and b (m x 4), or for points the centre-distance similarity."""
    if point:
        ca, cb = (a[:, :2] + a[:, 2:4]) / 2, (b[:, :2] + b[:, 2:4]) / 2
        distance = np.hypot(*(ca[:, None, :] - cb[None, :, :]).transpose(2, 0, 1))
        result: np.ndarray = np.maximum(0.0, 1.0 - distance / (2 * POINT_DISTANCE))
        return result
    iou: np.ndarray = pairwise_iou(a, b)
    return iou


def _matches(preds: list[Prediction], truths: list[Box], point: bool,
             thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """preds of one class, best first → hits (len(preds) x thresholds): whether each matched at each IoU."""
    hits = np.zeros((len(preds), len(thresholds)), bool)
    if not preds or not truths:
        return hits
    overlap = similarity(np.array([p[:4] for p in preds], np.float64), np.array([t[:4] for t in truths], np.float64),
                         point)
    for t, threshold in enumerate(thresholds):
        hits[:, t] = greedy_match(overlap, min(threshold, 1 - 1e-10)) >= 0
    return hits


def _image_hits(predictions: list[list[Prediction]], truths: list[list[Box]], cls: int, point: bool,
                thresholds: np.ndarray = IOU_THRESHOLDS) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Per image, the detections of class `cls` that count (the MAX_DETECTIONS best, best first): their scores,
    whether each matched a true object of the class at each of `thresholds`, and how many true objects it has."""
    for preds, gts in zip(predictions, truths, strict=True):
        mine = sorted((p for p in preds if p[4] == cls), key=lambda p: -p[5])[:MAX_DETECTIONS]
        own = [t for t in gts if t[4] == cls]
        yield np.array([p[5] for p in mine], np.float64), _matches(mine, own, point, thresholds), len(own)


@dataclass
class Evaluation:
    ap50: dict[int, float] = field(default_factory=dict)       # per class with objects
    ap50_95: dict[int, float] = field(default_factory=dict)
    precision: float = 0.0      # at the confidence threshold, IoU 0.5
    recall: float = 0.0
    images: int = 0
    objects: int = 0

    @property
    def map50(self) -> float:
        return float(np.mean(list(self.ap50.values()))) if self.ap50 else 0.0

    @property
    def map50_95(self) -> float:
        return float(np.mean(list(self.ap50_95.values()))) if self.ap50_95 else 0.0

    @property
    def fitness(self) -> float:
        """What selects the best epoch: both the loose and the strict figure count."""
        return (self.map50 + self.map50_95) / 2


def evaluate(predictions: list[list[Prediction]], truths: list[list[Box]], classes: int, conf: float,
             points: frozenset[int] = frozenset()) -> Evaluation:
    """COCO-style AP per class, and precision/recall at IoU 0.5 for the predictions scored at least `conf`."""
    result = Evaluation(images=len(truths), objects=sum(len(t) for t in truths))
    tp = fp = 0
    for cls in range(classes):
        scores: list[np.ndarray] = []
        hits: list[np.ndarray] = []
        total = 0
        for mine, matched, own in _image_hits(predictions, truths, cls, cls in points):
            total += own
            scores.append(mine)
            hits.append(matched)
            confident = mine >= conf
            tp += int(matched[confident, 0].sum())
            fp += int((~matched[confident, 0]).sum())
        if total == 0:
            continue
        s = np.concatenate(scores) if scores else np.zeros(0, np.float64)
        h = np.concatenate(hits) if hits else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        per_threshold = [average_precision(s, h[:, t], total) for t in range(len(IOU_THRESHOLDS))]
        result.ap50[cls], result.ap50_95[cls] = per_threshold[0], float(np.mean(per_threshold))
    result.precision = tp / (tp + fp) if tp + fp else 0.0
    result.recall = tp / result.objects if result.objects else 0.0
    return result


def best_threshold(predictions: list[list[Prediction]], truths: list[list[Box]], classes: int,
                   points: frozenset[int] = frozenset(),
                   candidates: tuple[float, ...] = tuple(np.round(np.arange(0.1, 0.81, 0.05), 2))) -> float:
    """The lowest confidence threshold whose F1 at IoU 0.5 is within F1_TOLERANCE of the best.

    A validation split is small: the threshold with the very best F1 often sits at the upper edge of a plateau,
    set there by one stray detection, and new images whose scores come out a little lower lose objects. The scores
    are trained to be the square root of the IoU of the box, so a high threshold also drops found objects with
    loose boxes."""
    scores, hits, objects = _scored_hits(predictions, truths, classes, points)
    f1s = []
    for conf in candidates:  # precision and recall exactly as `evaluate` counts them at `conf`
        confident = scores >= conf
        tp, fp = int((hits & confident).sum()), int((~hits & confident).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / objects if objects else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    best_f1 = max(f1s)
    return next(conf for conf, f1 in zip(candidates, f1s, strict=True) if f1 >= best_f1 - F1_TOLERANCE)


def _scored_hits(predictions: list[list[Prediction]], truths: list[list[Box]], classes: int,
                 points: frozenset[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """The detections `evaluate` counts (per image and class the MAX_DETECTIONS best): their scores, whether each
    matched a true object at IoU 0.5, and the number of true objects. Matched once for all thresholds
    (`best_threshold` tried 15, each a whole `evaluate`: 0.9 s of every validation that improved)."""
    scores: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    for cls in range(classes):
        for mine, matched, _ in _image_hits(predictions, truths, cls, cls in points, IOU_THRESHOLDS[:1]):
            scores.append(mine)
            hits.append(matched[:, 0])
    return np.concatenate(scores) if scores else np.zeros(0, np.float64), \
        np.concatenate(hits) if hits else np.zeros(0, bool), sum(len(t) for t in truths)


def confusion_matrix(predictions: list[list[Prediction]], truths: list[list[Box]], category_ids: list[str],
                     conf: float = 0.25, points: frozenset[int] = frozenset()) -> dict[str, dict[str, int]]:
    """Per category id: true positives, false positives and false negatives at `conf` and IoU 0.5."""
    counts = {cid: {"tp": 0, "fp": 0, "fn": 0} for cid in category_ids}
    for preds, gts in zip(predictions, truths, strict=True):
        for cls, cid in enumerate(category_ids):
            mine = sorted((p for p in preds if p[4] == cls and p[5] >= conf), key=lambda p: -p[5])
            own = [t for t in gts if t[4] == cls]
            hits = _matches(mine, own, cls in points)[:, 0]
            counts[cid]["tp"] += int(hits.sum())
            counts[cid]["fp"] += int((~hits).sum())
            counts[cid]["fn"] += len(own) - int(hits.sum())
    return counts
