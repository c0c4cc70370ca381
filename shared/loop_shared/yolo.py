"""Turn raw YOLO-style outputs into detections: decode the layout, threshold, per-class NMS, map back.

Shared, so that the detector serving a model and the converter checking a converted one (and anyone else who
runs a model) read its outputs in exactly the same way, with the same default thresholds.
"""

from __future__ import annotations

import cv2
import numpy as np

from .imaging import Letterbox

DEFAULT_CONF_THRESHOLD, DEFAULT_IOU_THRESHOLD = 0.2, 0.45
ULTRALYTICS = "ultralytics"  # [1, 4 + classes, N]: cx, cy, w, h, class scores
YOLOV5 = "yolov5"            # [1, N, 5 + classes]: cx, cy, w, h, objectness, class scores


def first_threshold(*candidates: float | None) -> float:
    """The first threshold given, in order of precedence (a setting, the model's model.json, a default): 0.0 is a
    threshold, only None (not given) passes on to the next."""
    return float(next(value for value in candidates if value is not None))


def infer_layout(shape: tuple[int, ...], classes: int) -> str:
    """Pick the output layout from the output shape when model.json does not name it."""
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(f"expected an output of shape [1, A, B], got {list(shape)}")
    if shape[1] == 4 + classes and shape[2] != 5 + classes:
        return ULTRALYTICS
    if shape[2] == 5 + classes:
        return YOLOV5
    if shape[1] == 4 + classes:
        return ULTRALYTICS
    raise ValueError(f"output shape {list(shape)} fits neither [1, 4+{classes}, N] nor [1, N, 5+{classes}]; "
                     "set output_layout in model.json")


def decode(output: np.ndarray, layout: str, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (boxes cx,cy,w,h as float32 [N,4], best score [N], class id [N]) in model-input pixels."""
    if layout == ULTRALYTICS:
        rows = output[0].T  # [N, 4 + classes]
        boxes, scores = rows[:, :4], rows[:, 4:4 + classes]
    elif layout == YOLOV5:
        rows = output[0]
        boxes, scores = rows[:, :4], rows[:, 5:5 + classes] * rows[:, 4:5]
    else:
        raise ValueError(f"unknown output layout {layout!r}")
    class_ids = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), class_ids]
    return boxes, best, class_ids


def select(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, conf: float,
           iou: float) -> np.ndarray:
    """Indices that pass the confidence threshold and per-class NMS, best first."""
    keep = np.flatnonzero(scores > conf)
    if keep.size == 0:
        return keep
    b = boxes[keep]
    xywh = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
    chosen = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores[keep].tolist(), class_ids[keep].tolist(), conf, iou)
    return keep[np.asarray(chosen, dtype=np.int64).reshape(-1)]


def to_image_boxes(boxes: np.ndarray, lb: Letterbox, width: int, height: int) -> np.ndarray:
    """cx,cy,w,h in model pixels → x1,y1,x2,y2 in image pixels, clipped to the image."""
    x1 = (boxes[:, 0] - boxes[:, 2] / 2 - lb.pad_x) / lb.scale_x
    y1 = (boxes[:, 1] - boxes[:, 3] / 2 - lb.pad_y) / lb.scale_y
    x2 = (boxes[:, 0] + boxes[:, 2] / 2 - lb.pad_x) / lb.scale_x
    y2 = (boxes[:, 1] + boxes[:, 3] / 2 - lb.pad_y) / lb.scale_y
    out = np.stack([x1, y1, x2, y2], axis=1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out
