"""The accuracy gate for box detectors (`ultralytics`, `yolov5`, and the boxes of `ultralytics_segment`).

Source and converted model run over the same images, preprocessed and read exactly as the detector does
(letterbox, `loop_shared.yolo` decoding and NMS with the thresholds from model.json). The source model's own
detections (above its confidence threshold: what users get) are the reference; the converted model's detections
are ranked down to a confidence of 0.001 (at most 100 per image), as COCO evaluates, so a box whose score moved
just below the threshold costs little. A converted box that matches none of the reference boxes but one the source
model found under its threshold, with a score within `SAME_BOX_DRIFT` of it, is ignored: the same box as before,
not a new detection (a score that moved just above the threshold would otherwise count as a false detection at
the top of the ranking, so a weakly trained model, with many boxes near its threshold, failed the check for scores
that moved by hundredths). Reported: the converted model's mAP@0.5 against the reference (1.0 =
nothing changed), the accuracy drop (1 - that mAP), and how far the scores of matching detections moved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from loop_shared.detection_metrics import Box, compare
from loop_shared.yolo import DEFAULT_CONF_THRESHOLD, DEFAULT_IOU_THRESHOLD, decode, first_threshold, select

from .model_runs import ModelRun

RANKING_CONF, MAX_DETECTIONS = 0.001, 100
SAME_BOX_DRIFT = 0.1  # a box both models found with scores this close is no change


def thresholds(model_info: dict[str, Any]) -> tuple[float, float]:
    """The model's (confidence, NMS IoU) thresholds, as the detector takes them from model.json."""
    return (first_threshold(model_info.get("conf_threshold"), DEFAULT_CONF_THRESHOLD),
            first_threshold(model_info.get("iou_threshold"), DEFAULT_IOU_THRESHOLD))


def kept(output: np.ndarray, box_layout: str, classes: int, conf: float,
         iou: float) -> tuple[np.ndarray, list[Box]]:
    """The candidates the detector keeps (the 100 best): their indices and their boxes in model-input pixels."""
    boxes, scores, class_ids = decode(output, box_layout, classes)
    keep = select(boxes, scores, class_ids, conf, iou)[:MAX_DETECTIONS]
    found = []
    for k in keep.tolist():
        cx, cy, w, h = boxes[k].tolist()
        found.append(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, int(class_ids[k]), float(scores[k])))
    return keep, found


def detections(model: Path, images: list[Path], model_info: dict[str, Any],
               conf: float | None = None) -> list[list[Box]]:
    """What the detector would report for each image, in model-input pixels (at confidence `conf`, default the
    model's own threshold), the 100 best per image."""
    run = ModelRun(model, model_info)
    layout = run.layout()
    threshold, iou = thresholds(model_info)
    return [kept(outputs[layout.scores], layout.box_layout, run.classes,
                 threshold if conf is None else conf, iou)[1] for outputs in run.outputs(images)]


def compare_boxes(found: list[list[Box]], candidate: list[list[Box]], threshold: float) -> dict[str, Any]:
    """The box figures of a conversion: `found` is the source's detections ranked down to RANKING_CONF, those
    above `threshold` the reference; `candidate` the converted model's, ranked alike."""
    reference = [[box for box in boxes if box.score > threshold] for boxes in found]  # as the detector keeps
    under = [[box for box in boxes if box.score <= threshold] for boxes in found]
    result = compare(reference, candidate, ignored=under, ignored_drift=SAME_BOX_DRIFT)
    reference_count = sum(map(len, reference))
    candidate_count = sum(map(len, candidate))
    map50 = result.mean_ap
    if math.isnan(map50):  # the source found nothing: any detection of the converted one is new
        map50 = 1.0 if candidate_count == 0 else 0.0
    return {"images": len(reference), "reference": "the source model's detections",
            "source_detections": reference_count, "converted_detections": candidate_count,
            "matched": result.matched, "map50_vs_source": round(map50, 4), "accuracy_drop": round(1.0 - map50, 4),
            "score_drift_mean": round(float(np.mean(result.score_drift)), 4) if result.score_drift else 0.0,
            "score_drift_max": round(float(np.max(result.score_drift)), 4) if result.score_drift else 0.0}


def measure_boxes(source: Path, converted: Path, images: list[Path], model_info: dict[str, Any]) -> dict[str, Any]:
    """The figures of one conversion of a box detector."""
    found = detections(source, images, model_info, conf=RANKING_CONF)
    candidate = detections(converted, images, model_info, conf=RANKING_CONF)
    return compare_boxes(found, candidate, thresholds(model_info)[0])
