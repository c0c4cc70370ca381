"""The reference trainer's COCO-style figures, checked against pycocotools on random detections."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from loop_reference_trainer.evaluate import best_threshold, confusion_matrix, evaluate
from loop_shared.detection_metrics import Box, compare


def scene(rng: np.random.Generator, classes: int) -> tuple[list[tuple], list[tuple]]:
    """True boxes and noisy detections of them (some missed, some shifted, some invented)."""
    truths, preds = [], []
    for _ in range(int(rng.integers(0, 6))):
        x, y = rng.uniform(0, 300, 2)
        w, h = rng.uniform(8, 120, 2)
        c = int(rng.integers(classes))
        truths.append((x, y, x + w, y + h, c))
        if rng.random() < 0.85:
            jitter = rng.normal(0, rng.uniform(0.5, 12), 4)
            cls = c if rng.random() < 0.9 else int(rng.integers(classes))
            x1, y1 = x + jitter[0], y + jitter[1]
            x2, y2 = max(x1 + 2, x + w + jitter[2]), max(y1 + 2, y + h + jitter[3])  # a box, never inside out
            preds.append((x1, y1, x2, y2, cls, float(rng.uniform(0.05, 1))))
    for _ in range(int(rng.integers(0, 4))):
        x, y = rng.uniform(0, 300, 2)
        preds.append((x, y, x + rng.uniform(5, 80), y + rng.uniform(5, 80), int(rng.integers(classes)),
                      float(rng.uniform(0.01, 0.7))))
    return truths, preds


def coco_figures(truths: list[list[tuple]], preds: list[list[tuple]], classes: int) -> tuple[float, float]:
    images = [{"id": i + 1, "width": 500, "height": 500} for i in range(len(truths))]
    annotations, results = [], []
    for i, (gts, ps) in enumerate(zip(truths, preds, strict=True)):
        for x1, y1, x2, y2, c in gts:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": c + 1, "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
        for x1, y1, x2, y2, c, s in ps:
            results.append({"image_id": i + 1, "category_id": c + 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {"images": images, "annotations": annotations,
                          "categories": [{"id": c + 1, "name": str(c)} for c in range(classes)]}
        ground.createIndex()
        found = ground.loadRes(results)
        e = COCOeval(ground, found, "bbox")
        e.params.areaRng, e.params.areaRngLbl = [[0, 1e10]], ["all"]
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(e.stats[1]), float(e.stats[0])  # AP50, AP50:95


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_average_precision_is_cocos(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(1, 4))
    pairs = [scene(rng, classes) for _ in range(40)]
    truths, preds = [t for t, _ in pairs], [p for _, p in pairs]
    ours = evaluate(preds, truths, classes, conf=0.25)
    # pycocotools averages over the classes that have objects; so do we
    ap50, ap50_95 = coco_figures(truths, preds, classes)
    assert ours.map50 == pytest.approx(ap50, abs=1e-6)
    assert ours.map50_95 == pytest.approx(ap50_95, abs=1e-6)
    assert 0.0 < ours.map50_95 < ours.map50 < 1.0


def test_perfect_and_empty_predictions() -> None:
    truths = [[(10.0, 10.0, 50.0, 40.0, 0), (60.0, 60.0, 90.0, 100.0, 1)]]
    perfect = [[(*t[:4], t[4], 0.9) for t in truths[0]]]
    assert evaluate(perfect, truths, 2, 0.25).map50_95 == pytest.approx(1.0)
    nothing = evaluate([[]], truths, 2, 0.25)
    assert (nothing.map50, nothing.recall, nothing.precision) == (0.0, 0.0, 0.0)


def test_points_match_by_distance() -> None:
    truths = [[(92.0, 92.0, 108.0, 108.0, 0)]]         # a point at (100, 100) as a 16-px box
    near = [[(95.0, 95.0, 111.0, 111.0, 0, 0.8)]]      # 4.2 px away
    far = [[(110.0, 110.0, 126.0, 126.0, 0, 0.8)]]     # 25 px away
    assert evaluate(near, truths, 1, 0.25, points=frozenset({0})).map50 == pytest.approx(1.0)
    assert evaluate(far, truths, 1, 0.25, points=frozenset({0})).map50 == 0.0


def test_precision_recall_threshold_and_confusion() -> None:
    truths = [[(0.0, 0.0, 20.0, 20.0, 0), (40.0, 40.0, 60.0, 60.0, 0)]]
    preds = [[(0.0, 0.0, 20.0, 20.0, 0, 0.9), (40.0, 40.0, 60.0, 60.0, 0, 0.3), (80.0, 80.0, 99.0, 99.0, 0, 0.2)]]
    high = evaluate(preds, truths, 1, 0.5)
    assert (high.precision, high.recall) == (1.0, 0.5)
    low = evaluate(preds, truths, 1, 0.1)
    assert low.precision == pytest.approx(2 / 3) and low.recall == 1.0
    # F1 is best at 0.25 or 0.3 (both found, the invented box left out)
    assert best_threshold(preds, truths, 1) == 0.25
    assert confusion_matrix(preds, truths, ["a"], conf=0.25) == {"a": {"tp": 2, "fp": 0, "fn": 0}}


def test_threshold_stays_below_a_plateau_edge_set_by_one_stray_detection() -> None:
    # 40 objects found with scores 0.72-0.9; stray detections at 0.66, 0.3 and 0.2. The best F1 alone is at 0.7
    # (above the stray at 0.66), right at the edge where slightly lower scores on new images lose objects.
    truths = [[(0.0, 0.0, 20.0, 20.0, 0)] for _ in range(40)]
    preds: list[list[tuple[float, float, float, float, int, float]]] = [
        [(0.0, 0.0, 20.0, 20.0, 0, 0.72 + 0.18 * k / 39)] for k in range(40)]
    preds[0].append((50.0, 50.0, 70.0, 70.0, 0, 0.66))
    preds[1].append((50.0, 50.0, 70.0, 70.0, 0, 0.3))
    preds[2].append((50.0, 50.0, 70.0, 70.0, 0, 0.2))
    # F1: 80/81 = 0.988 from 0.35 to 0.65 (within 0.02 of 1.0), 80/82 = 0.976 at 0.25-0.3 (not)
    assert best_threshold(preds, truths, 1) == 0.35


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_the_threshold_is_the_one_whole_evaluations_give(seed: int) -> None:
    """best_threshold matches the detections once for all thresholds; it picks what F1 from a whole `evaluate` at
    each threshold picks (points and many overlapping, invented detections included)."""
    rng = np.random.default_rng(seed)
    classes = 3
    pairs = [scene(rng, classes) for _ in range(40)]
    truths, preds = [t for t, _ in pairs], [p for _, p in pairs]
    for ps in preds:  # invented boxes and scores spread over the candidates
        ps.extend((x, y, x + 30.0, y + 30.0, int(rng.integers(classes)), float(rng.uniform(0.05, 0.9)))
                  for x, y in rng.uniform(0, 300, (int(rng.integers(0, 4)), 2)))
    points = frozenset({2})
    candidates = tuple(np.round(np.arange(0.1, 0.81, 0.05), 2))
    f1s = []
    for conf in candidates:
        e = evaluate(preds, truths, classes, conf, points)
        f1s.append(2 * e.precision * e.recall / (e.precision + e.recall) if e.precision + e.recall else 0.0)
    expected = next(c for c, f1 in zip(candidates, f1s, strict=True) if f1 >= max(f1s) - 0.02)
    assert best_threshold(preds, truths, classes, points) == expected
    assert len(set(f1s)) > 3  # the thresholds do differ on these scenes


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_the_trainer_and_the_converter_score_alike(seed: int) -> None:
    """One definition of AP: the reference trainer's evaluation and loop_shared's comparison agree exactly."""
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(1, 4))
    pairs = [scene(rng, classes) for _ in range(40)]
    truths, preds = [t for t, _ in pairs], [p for _, p in pairs]
    ours = evaluate(preds, truths, classes, conf=0.25)
    shared = compare([[Box(*t, score=1.0) for t in gts] for gts in truths], [[Box(*p) for p in ps] for ps in preds])
    assert ours.ap50 == shared.ap  # per class to the last bit; the means differ only in summation order
    assert ours.map50 == pytest.approx(shared.mean_ap, abs=1e-12)
