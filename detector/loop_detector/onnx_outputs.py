"""Turn one image's model outputs into the detections the detector answers, for every output layout.

Boxes go to the category's type: `point` categories become points at the box centre, `segmentation` categories
become polygons when the model has masks (`ultralytics_segment`), everything else a box. A classifier's scores
become classifications. Everything is in the original image's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from loop_shared.classification import CLASSIFICATION, probabilities, top_classes
from loop_shared.imaging import Letterbox
from loop_shared.output_layouts import OutputLayout
from loop_shared.schemas import (
    BoxDetection,
    Category,
    CategoryType,
    ClassificationDetection,
    ImageMetadata,
    PointDetection,
    SegmentationDetection,
)
from loop_shared.yolo import decode, select, to_image_boxes
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT, coefficients, instance_polygons

# an image's polygons are validated in one call: a model per outline (or per vertex) cost as much as the contours
_SEGMENTATIONS = TypeAdapter(list[SegmentationDetection])


@dataclass(frozen=True)
class OutputReader:
    """What reading a model's outputs needs, fixed when the model loads."""

    layout: OutputLayout
    categories: list[Category]
    version: str
    conf_threshold: float
    iou_threshold: float
    input_size: tuple[int, int]  # the model input's (width, height)
    scores: str  # a classifier's `scores`: probabilities or logits

    def read(self, outputs: Sequence[np.ndarray], lb: Letterbox, width: int, height: int) -> ImageMetadata:
        """The detections of one image of `width` x `height` pixels, letterboxed by `lb` into the model."""
        if self.layout.name == CLASSIFICATION:
            return self._classifications(outputs[self.layout.scores])
        return self._detections(outputs, lb, width, height)

    def _classifications(self, output: np.ndarray) -> ImageMetadata:
        probs = probabilities(output, self.scores)
        result = ImageMetadata()
        for index in top_classes(probs, self.conf_threshold).tolist():
            category = self.categories[index]
            result.classification_detections.append(ClassificationDetection(
                category_name=category.name, category_id=category.id, model_name=self.version,
                confidence=round(float(probs[index]), 3)))
        return result

    def _detections(self, outputs: Sequence[np.ndarray], lb: Letterbox, width: int, height: int) -> ImageMetadata:
        output = outputs[self.layout.scores].astype(np.float32, copy=False)
        boxes, scores, class_ids = decode(output, self.layout.box_layout, len(self.categories))
        keep = select(boxes, scores, class_ids, self.conf_threshold, self.iou_threshold)
        result = ImageMetadata()
        if keep.size == 0:
            return result
        kept = boxes[keep]
        xyxy = to_image_boxes(kept, lb, width, height)
        model_xyxy = np.concatenate([kept[:, :2] - kept[:, 2:] / 2, kept[:, :2] + kept[:, 2:] / 2], axis=1)
        masks = self.layout.name == ULTRALYTICS_SEGMENT and self.layout.protos is not None
        # kept segmentation instances: (index among the kept, confidence, category, image box); their polygons are
        # traced together below, after the boxes and points
        outlined: list[tuple[int, float, Category, tuple[int, int, int, int]]] = []
        for i, ((x1, y1, x2, y2), score, cls) in enumerate(zip(xyxy.tolist(), scores[keep].tolist(),
                                                               class_ids[keep].tolist(), strict=True)):
            category = self.categories[cls]
            confidence = round(score, 3)
            if category.type == CategoryType.POINT:
                result.point_detections.append(PointDetection(
                    category_name=category.name, category_id=category.id, x=round((x1 + x2) / 2, 2),
                    y=round((y1 + y2) / 2, 2), model_name=self.version, confidence=confidence))
                continue
            x, y = round(x1), round(y1)
            w, h = round(x2) - x, round(y2) - y
            if w < 1 or h < 1:
                continue
            if category.type == CategoryType.SEGMENTATION and masks:
                outlined.append((i, confidence, category, (x, y, w, h)))
                continue
            result.box_detections.append(BoxDetection(
                category_name=category.name, category_id=category.id, x=x, y=y, width=w, height=h,
                model_name=self.version, confidence=confidence))
        if not outlined:
            return result
        assert self.layout.protos is not None
        rows = np.array([i for i, *_ in outlined])
        polygons = instance_polygons(coefficients(output, len(self.categories), keep[rows]),
                                     outputs[self.layout.protos][0].astype(np.float32, copy=False), model_xyxy[rows],
                                     self.input_size, lb, [image_box for *_, image_box in outlined])
        segmentations: list[dict[str, Any]] = [
            {"category_name": category.name, "category_id": category.id, "model_name": self.version,
             "confidence": confidence, "shape": {"points": [{"x": px, "y": py} for px, py in polygon]}}
            for (_, confidence, category, _), polygon in zip(outlined, polygons, strict=True) if polygon is not None]
        if segmentations:
            result.segmentation_detections = _SEGMENTATIONS.validate_python(segmentations)
        return result
