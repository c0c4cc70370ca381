"""The accuracy gate: what a conversion changed, measured on images of the model's project.

Source and converted model run over the same images, preprocessed and read exactly as the detector does
(letterbox, `loop_shared.yolo` decoding and NMS with the thresholds from model.json). The source model's own
detections (above its confidence threshold: what users get) are the reference; the converted model's detections
are ranked down to a confidence of 0.001 (at most 100 per image), as COCO evaluates, so a box whose score moved
just below the threshold costs little. A converted box that matches none of the reference boxes but one the source
model found under its threshold, with a score within `SAME_BOX_DRIFT` of it, is ignored: the same box as before,
not a new detection (a score that moved just above the threshold would otherwise count as a false detection at
the top of the ranking, so a weakly trained model, with many boxes near its threshold, failed the check for scores
that moved by hundredths). Reported: the converted model's mAP@0.5 against the reference (1.0 =
nothing changed), the accuracy drop (1 - that mAP), and how far the scores of matching detections moved. The
worker publishes a conversion only when the drop is within `LOOP_MAX_ACCURACY_DROP`, and writes these figures
into the package's model.json.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from loop_shared.detection_metrics import Box, compare
from loop_shared.imaging import letterbox, to_tensor
from loop_shared.yolo import (
    DEFAULT_CONF_THRESHOLD,
    DEFAULT_IOU_THRESHOLD,
    decode,
    first_threshold,
    infer_layout,
    select,
)

RANKING_CONF, MAX_DETECTIONS = 0.001, 100
SAME_BOX_DRIFT = 0.1  # a box both models found with scores this close is no change
_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def detections(model: Path, images: list[Path], model_info: dict[str, Any],
               conf: float | None = None) -> list[list[Box]]:
    """What the detector would report for each image, in model-input pixels (at confidence `conf`, default the
    model's own threshold), the 100 best per image."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    height, width = model_input.shape[2], model_input.shape[3]
    if not isinstance(height, int) or not isinstance(width, int):
        height = width = int(model_info.get("resolution") or 640)
    dtype = _DTYPES.get(model_input.type, np.float32)
    classes = len(model_info.get("categories") or [])
    keep_ratio = model_info.get("preprocessing", "letterbox") != "resize"
    if conf is None:
        conf = first_threshold(model_info.get("conf_threshold"), DEFAULT_CONF_THRESHOLD)
    iou = first_threshold(model_info.get("iou_threshold"), DEFAULT_IOU_THRESHOLD)
    results = []
    for path in images:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        canvas, _ = letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width, height, keep_ratio=keep_ratio)
        output = session.run(None, {model_input.name: to_tensor(canvas, dtype)})[0].astype(np.float32)
        layout = model_info.get("output_layout") or infer_layout(output.shape, classes)
        boxes, scores, class_ids = decode(output, layout, classes)
        found = []
        for k in select(boxes, scores, class_ids, conf, iou)[:MAX_DETECTIONS].tolist():
            cx, cy, w, h = boxes[k].tolist()
            found.append(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, int(class_ids[k]), float(scores[k])))
        results.append(found)
    return results


def measure(source: Path, converted: Path, images: list[Path], model_info: dict[str, Any]) -> dict[str, Any]:
    """The figures of one conversion (they go into the converted package's model.json as `conversion`)."""
    threshold = first_threshold(model_info.get("conf_threshold"), DEFAULT_CONF_THRESHOLD)
    found = detections(source, images, model_info, conf=RANKING_CONF)
    reference = [[box for box in boxes if box.score > threshold] for boxes in found]  # as the detector keeps
    under = [[box for box in boxes if box.score <= threshold] for boxes in found]
    candidate = detections(converted, images, model_info, conf=RANKING_CONF)
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
