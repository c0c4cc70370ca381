"""How alike two sets of detections are: average precision of candidates against reference boxes.

The definition is COCO's: per class, detections sorted by score are matched greedily to the unmatched reference
box of the same class they overlap most (IoU at least the threshold); precision is interpolated at 101 recall
points; mAP is the mean over the classes that have reference boxes. The converter uses it with a source model's
own detections as the reference, to see what a conversion changed; the reference trainer's evaluation
(loop_reference_trainer.evaluate) scores its epochs with the same `pairwise_iou`, `greedy_match` and
`average_precision`, so there is one definition of the figures.

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
    return float(pairwise_iou(np.array([[a.x1, a.y1, a.x2, a.y2]]), np.array([[b.x1, b.y1, b.x2, b.y2]]))[0, 0])


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (n x 4, x1 y1 x2 y2) with every box in b (m x 4): n x m, 0 where they do not touch."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    overlap: np.ndarray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return overlap


def greedy_match(overlap: np.ndarray, threshold: float) -> np.ndarray:
    """overlap: candidates (best first) x references. For each candidate in turn, the index of the unmatched
    reference it overlaps most (the first of equals) if that overlap reaches `threshold`, else -1."""
    matches = np.full(overlap.shape[0], -1)
    if overlap.shape[1] == 0:
        return matches
    used = np.zeros(overlap.shape[1], bool)
    for k in range(overlap.shape[0]):
        candidates = np.where(used, -1.0, overlap[k])
        best = int(np.argmax(candidates))
        if candidates[best] >= threshold:
            used[best] = True
            matches[k] = best
    return matches


def average_precision(scores: np.ndarray, hits: np.ndarray, total: int) -> float:
    """COCO's AP of detections with these scores, `hits` saying which matched, against `total` true objects:
    precision made monotone and read at 101 recall points. nan when there is nothing to find."""
    if total == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")  # stable: equal scores keep their order
    tp = np.cumsum(hits[order])
    recall = tp / total
    precision = tp / np.arange(1, len(tp) + 1)
    if len(precision):
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # the best precision at this recall or beyond
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in at]))


def _match(candidates: list[Box], references: list[Box], threshold: float) -> list[int]:
    """For candidates sorted by score: the index of the reference of the same class each one matched, or -1."""
    if not candidates or not references:
        return [-1] * len(candidates)
    overlap = pairwise_iou(np.array([[c.x1, c.y1, c.x2, c.y2] for c in candidates], np.float64),
                           np.array([[r.x1, r.y1, r.x2, r.y2] for r in references], np.float64))
    same_class = np.array([c.category for c in candidates])[:, None] == np.array([r.category for r in references])
    return [int(m) for m in greedy_match(np.where(same_class, overlap, -1.0), threshold)]


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
        entries = scored.get(category, [])
        ap[category] = average_precision(np.array([score for score, _ in entries], np.float64),
                                         np.array([hit for _, hit in entries], np.float64), total)
    mean_ap = float(np.mean(list(ap.values()))) if ap else float("nan")
    return Comparison(ap, mean_ap, drift)
