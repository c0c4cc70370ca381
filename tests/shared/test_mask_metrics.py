"""Mask mAP against pycocotools' COCOeval (iouType="segm") on random cases, and against answers known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from loop_shared.mask_metrics import MaskInstance, mask_iou, mask_map, polygon_mask

H, W = 24, 32


def rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def coco_figures(references: list[list[MaskInstance]], candidates: list[list[MaskInstance]],
                 classes: int) -> tuple[float, float]:
    """(AP@0.5, AP@0.5:0.95) as pycocotools computes them; nan where it reports -1."""
    def rle(mask: np.ndarray) -> dict[str, object]:
        encoded: dict[str, object] = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        encoded["counts"] = encoded["counts"].decode("ascii")  # type: ignore[attr-defined]
        return encoded

    images = [{"id": k + 1, "height": H, "width": W} for k in range(len(references))]
    annotations: list[dict[str, object]] = []
    for k, refs in enumerate(references):
        for ref in refs:
            annotations.append({"id": len(annotations) + 1, "image_id": k + 1, "category_id": ref.category + 1,
                                "segmentation": rle(ref.mask), "area": float(ref.mask.sum()), "iscrowd": 0,
                                "bbox": [0, 0, 1, 1]})
    ground_truth = COCO()
    ground_truth.dataset = {"images": images, "annotations": annotations,
                            "categories": [{"id": c + 1, "name": str(c)} for c in range(classes)]}
    ground_truth.createIndex()
    results = [{"image_id": k + 1, "category_id": c.category + 1, "segmentation": rle(c.mask), "score": c.score}
               for k, cands in enumerate(candidates) for c in cands]
    if not results:
        return (0.0, 0.0) if annotations else (math.nan, math.nan)
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), iouType="segm")
    evaluation.evaluate()
    evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # [T, R, K], area "all", maxDets 100
    at50 = precision[0][precision[0] > -1]
    every = precision[precision > -1]
    return (float(np.mean(at50)) if at50.size else math.nan, float(np.mean(every)) if every.size else math.nan)


def random_mask(rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(3, p=[0.5, 0.4, 0.1])
    x0, y0 = int(rng.integers(0, W - 4)), int(rng.integers(0, H - 4))
    x1, y1 = int(rng.integers(x0 + 2, W + 1)), int(rng.integers(y0 + 2, H + 1))
    if kind == 0:
        return rect(x0, y0, x1, y1)
    if kind == 1:
        points = [(float(rng.uniform(0, W)), float(rng.uniform(0, H))) for _ in range(int(rng.integers(3, 7)))]
        return polygon_mask(points, H, W)
    return rng.random((H, W)) < 0.15  # scattered pixels: overlaps far from box-like


def jittered(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = np.roll(mask, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
    flip = rng.random((H, W)) < 0.02
    return moved ^ flip


def random_case(seed: int) -> tuple[list[list[MaskInstance]], list[list[MaskInstance]], int]:
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(1, 4))
    references: list[list[MaskInstance]] = []
    candidates: list[list[MaskInstance]] = []
    for _ in range(int(rng.integers(1, 5))):
        refs = [MaskInstance(int(rng.integers(classes)), 1.0, random_mask(rng)) for _ in range(int(rng.integers(0, 5)))]
        cands = []
        for ref in refs:
            if rng.random() < 0.8:  # mostly found, sometimes in the wrong class
                category = ref.category if rng.random() < 0.85 else int(rng.integers(classes))
                cands.append(MaskInstance(category, float(rng.random()), jittered(ref.mask, rng)))
        for _ in range(int(rng.integers(0, 3))):  # false detections and duplicates
            source = refs[int(rng.integers(len(refs)))].mask if refs and rng.random() < 0.5 else random_mask(rng)
            cands.append(MaskInstance(int(rng.integers(classes)), float(rng.random()), jittered(source, rng)))
        if cands and rng.random() < 0.3:  # equal scores: the order of ties must match COCO's
            cands[-1].score = cands[0].score
        references.append(refs)
        candidates.append(cands)
    return references, candidates, classes


@pytest.mark.parametrize("seed", range(40))
def test_random_cases_agree_with_pycocotools(seed: int) -> None:
    references, candidates, classes = random_case(seed)
    ours = mask_map(references, candidates, classes)
    theirs = coco_figures(references, candidates, classes)
    for mine, coco in zip(ours, theirs, strict=True):
        assert (math.isnan(mine) and math.isnan(coco)) or mine == pytest.approx(coco, abs=1e-9), (ours, theirs)


def test_equal_overlaps_match_the_last_reference_as_coco_does() -> None:
    # one candidate overlaps two references equally; the second candidate only fits the first reference
    first, second = rect(0, 0, 4, 4), rect(2, 0, 6, 4)
    between = rect(1, 0, 5, 4)  # IoU 0.6 with both
    references = [[MaskInstance(0, 1, first), MaskInstance(0, 1, second)]]
    candidates = [[MaskInstance(0, 0.9, between), MaskInstance(0, 0.8, first)]]
    assert mask_map(references, candidates, 1)[0] == 1.0  # `between` took `second`, so `first` is still free
    assert mask_map(references, candidates, 1) == pytest.approx(coco_figures(references, candidates, 1))


def test_identical_masks_score_one() -> None:
    masks = [[MaskInstance(0, 0.9, rect(0, 0, 10, 10)), MaskInstance(1, 0.5, rect(12, 12, 20, 20))]]
    assert mask_map(masks, masks, 2) == (1.0, 1.0)


def test_a_missed_mask_halves_the_recall() -> None:
    references = [[MaskInstance(0, 1, rect(0, 0, 8, 8)), MaskInstance(0, 1, rect(16, 10, 24, 18))]]
    at50, _ = mask_map(references, [[MaskInstance(0, 0.8, rect(0, 0, 8, 8))]], 1)
    assert at50 == pytest.approx(51 / 101)


def test_the_mask_not_the_box_decides() -> None:
    # the same bounding box, but an L shape against a full square: IoU 0.36 < 0.5 although the boxes agree
    square = rect(0, 0, 10, 10)
    ell = rect(0, 0, 2, 10) | rect(0, 8, 10, 10)
    assert mask_iou(square[None], ell[None])[0, 0] == pytest.approx(36 / 100)
    assert mask_map([[MaskInstance(0, 1, square)]], [[MaskInstance(0, 0.9, ell)]], 1) == (0.0, 0.0)


def test_iou_between_thresholds_counts_for_part_of_the_range() -> None:
    reference = rect(0, 0, 10, 10)
    candidate = rect(0, 0, 10, 8)  # IoU 0.8: a hit at 0.5 .. 0.8, a miss at 0.85 .. 0.95
    at50, at50_95 = mask_map([[MaskInstance(0, 1, reference)]], [[MaskInstance(0, 0.7, candidate)]], 1)
    assert at50 == 1.0 and at50_95 == pytest.approx(7 / 10)


def test_classes_without_references_are_left_out_and_none_gives_nan() -> None:
    references = [[MaskInstance(0, 1, rect(0, 0, 8, 8))]]
    candidates = [[MaskInstance(0, 0.9, rect(0, 0, 8, 8)), MaskInstance(2, 0.95, rect(10, 10, 20, 20))]]
    assert mask_map(references, candidates, 3) == (1.0, 1.0)
    assert all(math.isnan(v) for v in mask_map([[]], candidates, 3))


def test_mask_iou_of_disjoint_empty_and_partial_masks() -> None:
    a = np.stack([rect(0, 0, 4, 4), np.zeros((H, W), bool)])
    b = np.stack([rect(2, 0, 6, 4), rect(20, 20, 24, 24)])
    assert mask_iou(a, b) == pytest.approx(np.array([[8 / 24, 0.0], [0.0, 0.0]]))
    assert mask_iou(a[:0], b).shape == (0, 2)


def test_polygon_mask_fills_the_inside() -> None:
    mask = polygon_mask([(2, 2), (9, 2), (9, 9), (2, 9)], H, W)
    assert mask.shape == (H, W) and mask[5, 5] and not mask[0, 0] and mask.sum() == 64
    assert not polygon_mask([(1, 1), (2, 2)], H, W).any()


def test_only_the_best_hundred_candidates_per_image_and_class_count() -> None:
    reference = rect(0, 0, 4, 4)
    wrong = [MaskInstance(0, 0.5 + k / 1000, rect(20, 10, 24, 14)) for k in range(100)]
    candidates = [[*wrong, MaskInstance(0, 0.1, reference), MaskInstance(1, 0.2, reference)]]
    references = [[MaskInstance(0, 1, reference), MaskInstance(1, 1, reference)]]
    # class 0: the hit ranks 101st and is cut, as in COCO; class 1 has its own hundred
    assert mask_map(references, candidates, 2) == (0.5, 0.5)
    assert coco_figures(references, candidates, 2) == pytest.approx((0.5, 0.5))


def test_a_cropped_mask_placed_at_its_origin_is_the_same_mask() -> None:
    whole = rect(4, 6, 12, 14)
    crop = MaskInstance(0, 0.9, np.ones((8, 8), bool), origin=(4, 6))
    shifted = MaskInstance(0, 0.8, np.ones((8, 8), bool), origin=(8, 6))  # half of it: IoU 1/3
    assert mask_map([[MaskInstance(0, 1, whole)]], [[crop]], 1) == (1.0, 1.0)
    assert mask_map([[MaskInstance(0, 1, whole)]], [[shifted]], 1) == (0.0, 0.0)
    assert mask_map([[crop]], [[MaskInstance(0, 0.9, whole)]], 1) == (1.0, 1.0)
