"""How alike two sets of detections are: average precision of candidates against reference boxes.

The definition is COCO's: per class, detections sorted by score are matched greedily to the unmatched reference
box of the same class they overlap most (IoU at least the threshold); precision is interpolated at 101 recall
points; mAP is the mean over the classes that have reference boxes. The converter uses it with a source model's
own detections as the reference, to see what a conversion changed.

Optionally, `ignored` boxes (per image) are neither hits nor misses, as COCO's ignore regions: a candidate that
matches none of the references but overlaps an ignored box of its class, with a score within `ignored_drift` of
it, is left out. The converter passes the source model's detections just under its confidence threshold: a box
whose score moves just above the threshold is the same box as before, not a new detection (one that moves just
below costs as little, since candidates are ranked far below the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    category: int
    score: float = 1.0


def iou(a: Box, b: Box) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


def _match(candidates: list[Box], references: list[Box], threshold: float) -> list[int]:
    """For candidates sorted by score: the index of the reference each one matched, or -1."""
    used: set[int] = set()
    matches = []
    for box in candidates:
        best, best_iou = -1, threshold
        for k, ref in enumerate(references):
            if k in used or ref.category != box.category:
                continue
            overlap = iou(box, ref)
            if overlap >= best_iou:
                best, best_iou = k, overlap
        if best >= 0:
            used.add(best)
        matches.append(best)
    return matches


def _interpolated_ap(hits: np.ndarray, total: int) -> float:
    if total == 0:
        return float("nan")
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits)
    recall = tp / total
    precision = tp / np.arange(1, hits.size + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the best precision at this recall or beyond
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.mean([precision[i] if i < precision.size else 0.0 for i in at]))


@dataclass
class Comparison:
    ap: dict[int, float]           # per class that has reference boxes
    mean_ap: float                 # nan when there are no reference boxes at all
    score_drift: list[float]       # |candidate score - reference score| of each matched pair

    @property
    def matched(self) -> int:
        return len(self.score_drift)


def _is_ignored(box: Box, ignored: list[Box], threshold: float, drift: float) -> bool:
    return any(other.category == box.category and abs(other.score - box.score) <= drift
               and iou(box, other) >= threshold for other in ignored)


def compare(references: list[list[Box]], candidates: list[list[Box]], threshold: float = 0.5,
            ignored: list[list[Box]] | None = None, ignored_drift: float = 0.0) -> Comparison:
    """Average precision of `candidates` against `references`, image by image (all lists in the same order)."""
    if ignored is not None and len(ignored) != len(references):
        raise ValueError(f"{len(ignored)} lists of ignored boxes for {len(references)} images")
    scored: dict[int, list[tuple[float, bool]]] = {}
    totals: dict[int, int] = {}
    drift: list[float] = []
    for k, (refs, cands) in enumerate(zip(references, candidates, strict=True)):
        for ref in refs:
            totals[ref.category] = totals.get(ref.category, 0) + 1
        ordered = sorted(cands, key=lambda b: -b.score)
        for box, match in zip(ordered, _match(ordered, refs, threshold), strict=True):
            if match < 0 and ignored and _is_ignored(box, ignored[k], threshold, ignored_drift):
                continue
            scored.setdefault(box.category, []).append((box.score, match >= 0))
            if match >= 0:
                drift.append(abs(box.score - refs[match].score))
    ap = {}
    for category, total in totals.items():
        entries = sorted(scored.get(category, []), key=lambda s: -s[0])
        ap[category] = _interpolated_ap(np.array([hit for _, hit in entries], dtype=np.float64), total)
    mean_ap = float(np.mean(list(ap.values()))) if ap else float("nan")
    return Comparison(ap, mean_ap, drift)
