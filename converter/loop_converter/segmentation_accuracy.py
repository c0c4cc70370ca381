"""The accuracy gate for instance segmentation (`ultralytics_segment`): boxes as for detectors, and masks.

Both models' detections are read as the detector reads them (`loop_shared.yolo` boxes and NMS, then
`loop_shared.yolo_segment.instance_mask` for each kept detection, inside its box), in model-input pixels. The
box figures are `box_accuracy`'s. For the masks, the source's detections of segmentation categories above its
confidence threshold, with a mask that is not empty (the detector drops empty ones), are the reference; the
converted model's are ranked down to a confidence of 0.001, and `loop_shared.mask_metrics.mask_map` gives mask
mAP@0.5 and mAP@0.5:0.95 (COCO's segm definition). As for boxes, a converted detection whose box matches no
reference box of its class but one the source found under its threshold, with a score within `SAME_BOX_DRIFT`,
is the same detection as before and left out. Reported besides the box figures: `mask_map50_vs_source`,
`mask_map50_95_vs_source` and `mask_accuracy_drop` (1 - mask mAP@0.5), which LOOP_MAX_MASK_ACCURACY_DROP limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loop_shared.detection_metrics import Box, pairwise_iou
from loop_shared.imaging import Letterbox
from loop_shared.mask_metrics import MaskInstance, mask_map
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT, coefficients, instance_mask

from .box_accuracy import RANKING_CONF, SAME_BOX_DRIFT, compare_boxes, kept, thresholds
from .model_runs import ModelRun

SAME_PIXELS = Letterbox(1.0, 1.0, 0.0, 0.0)  # masks are read in model-input pixels, as the boxes are


@dataclass(frozen=True)
class Instance:
    box: Box
    mask: MaskInstance | None  # None: an empty mask, or a box too small to hold one


def instances(model: Path, images: list[Path], model_info: dict[str, Any], conf: float) -> list[list[Instance]]:
    """Each image's detections down to confidence `conf` (the 100 best), with their masks."""
    run = ModelRun(model, model_info)
    layout = run.layout()
    if layout.name != ULTRALYTICS_SEGMENT or layout.protos is None:
        raise ValueError(f"expected an {ULTRALYTICS_SEGMENT} model, the outputs read as {layout.name}")
    iou = thresholds(model_info)[1]
    result = []
    for outputs in run.outputs(images):
        output, protos = outputs[layout.scores], outputs[layout.protos][0]
        keep, boxes = kept(output, layout.box_layout, run.classes, conf, iou)
        coefs = coefficients(output, run.classes, keep)
        found = []
        for coefficient, box in zip(coefs, boxes, strict=True):
            x0, y0 = max(round(box.x1), 0), max(round(box.y1), 0)
            x1, y1 = min(round(box.x2), run.width), min(round(box.y2), run.height)
            mask = None
            if x1 > x0 and y1 > y0:
                pixels = instance_mask(coefficient, protos, np.array([box.x1, box.y1, box.x2, box.y2]),
                                       (run.width, run.height), SAME_PIXELS, (x0, y0, x1 - x0, y1 - y0)).astype(bool)
                if pixels.any():
                    mask = MaskInstance(box.category, box.score, pixels, (x0, y0))
            found.append(Instance(box, mask))
        result.append(found)
    return result


def segmentation_classes(model_info: dict[str, Any]) -> set[int]:
    """Indices of the categories that get masks: the `segmentation` ones, or all when none is of that type."""
    categories = model_info.get("categories") or []
    typed = {k for k, c in enumerate(categories) if isinstance(c, dict) and c.get("type") == "segmentation"}
    return typed or set(range(len(categories)))


def _same_as_under(box: Box, reference: list[Box], under: list[Box], threshold: float = 0.5) -> bool:
    """Whether a candidate is a detection the source found under its threshold (and no reported one)."""
    def overlapping(others: list[Box]) -> np.ndarray:
        if not others:
            return np.zeros(0, bool)
        overlap = pairwise_iou(np.array([[box.x1, box.y1, box.x2, box.y2]]),
                               np.array([[o.x1, o.y1, o.x2, o.y2] for o in others]))[0]
        same: np.ndarray = np.array([o.category == box.category for o in others]) & (overlap >= threshold)
        return same

    if overlapping(reference).any():
        return False
    near = overlapping(under)
    return bool(any(n and abs(o.score - box.score) <= SAME_BOX_DRIFT for n, o in zip(near, under, strict=True)))


def measure_segmentation(source: Path, converted: Path, images: list[Path],
                         model_info: dict[str, Any]) -> dict[str, Any]:
    """The figures of one conversion of an instance segmentation model."""
    threshold = thresholds(model_info)[0]
    found = instances(source, images, model_info, RANKING_CONF)
    candidate = instances(converted, images, model_info, RANKING_CONF)
    figures = compare_boxes([[i.box for i in image] for image in found],
                            [[i.box for i in image] for image in candidate], threshold)
    masked = segmentation_classes(model_info)
    references: list[list[MaskInstance]] = []
    candidates: list[list[MaskInstance]] = []
    for source_image, converted_image in zip(found, candidate, strict=True):
        reported = [i for i in source_image if i.box.score > threshold]
        under = [i.box for i in source_image if i.box.score <= threshold]
        references.append([i.mask for i in reported if i.mask is not None and i.box.category in masked])
        reported_boxes = [i.box for i in reported]
        candidates.append([i.mask for i in converted_image if i.mask is not None and i.box.category in masked
                           and not _same_as_under(i.box, reported_boxes, under)])
    map50, map50_95 = mask_map(references, candidates, len(model_info.get("categories") or []))
    if math.isnan(map50):  # the source reported no mask: any mask the converted one reports is new
        new = any(m.score > threshold for image in candidates for m in image)
        map50 = map50_95 = 0.0 if new else 1.0
    return {**figures, "source_masks": sum(map(len, references)),
            "mask_map50_vs_source": round(map50, 4), "mask_map50_95_vs_source": round(map50_95, 4),
            "mask_accuracy_drop": round(1.0 - map50, 4)}
