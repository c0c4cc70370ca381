"""The reference TrainerLogic: trains the JAX detector, uploads it as `onnx`, detects with ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from loop_shared.imaging import Letterbox
from loop_shared.schemas import (
    BoxDetection,
    Detections,
    ModelInformation,
    Point,
    PointDetection,
    PretrainedModel,
    SegmentationDetection,
    Shape,
)
from loop_shared.yolo import first_threshold
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT, instance_polygon
from loop_trainer.logic import Reporter, TrainerLogic, TrainingJob

CONF_THRESHOLD = 0.25


def is_classification(job: TrainingJob) -> bool:
    """A classification project: every category is of type `classification` (the classifier is trained); any
    other project trains the detector on its box, point and segmentation categories."""
    return bool(job.categories) and all(c.type == "classification" for c in job.categories)


class ReferenceTrainerLogic(TrainerLogic):
    """A small anchor-free one-stage detector with a feature pyramid (JAX + Flax + Optax), exported with jax2onnx.

    Hyperparameters (all optional, see reference/hyper.py): `resolution` (416, the input's longer side;
    384 for a project with segmentation categories), `epochs` (56), `batch_size` (8), `learning_rate` (0.008),
    `eval_every` (5), `warmup_epochs` (3), `mosaic` (0.5), `turned` (0), `copy_paste` (0.5, segmentation objects
    only), `seed` (0), `width` (16). Box, point and segmentation categories are learned; points become small boxes
    whose centres the detector reports as points; a project with segmentation categories gets a mask head and the
    `ultralytics_segment` layout, and its segmentation categories are detected as polygons.
    """

    model_format = "onnx"
    architecture = "loop-reference-detector"
    pretrained_models: ClassVar[list[PretrainedModel]] = [
        PretrainedModel(name="small", label="Small", description="the reference detector, trained from scratch")]

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        from .devices import split_cpu  # JAX is imported only in the child process

        split_cpu()  # before JAX's first computation
        if is_classification(job):
            from .classifier import run as run_classifier

            run_classifier(job, reporter)
            return
        from .train import run

        run(job, reporter)

    def model_files(self, job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
        if is_classification(job):
            from .classifier import model_files as classifier_files

            return classifier_files(job)
        from .evaluate import NMS_IOU

        model = job.output_dir / "model.onnx"
        if not model.exists():
            return {}, {}
        summary = json.loads((job.output_dir / "summary.json").read_text())
        metadata = {"resolution": summary["resolution"], "categories": summary["categories"],
                    "output_layout": summary.get("output_layout", "ultralytics"), "preprocessing": "letterbox",
                    "conf_threshold": summary.get("conf_threshold", CONF_THRESHOLD),
                    "iou_threshold": summary.get("iou_threshold", NMS_IOU),
                    "architecture": self.architecture, "map50": summary["map50"],
                    "map50_95": summary.get("map50_95"), "figures": summary.get("figures")}
        if "mask_map50" in summary:
            metadata.update({"mask_map50": summary["mask_map50"], "mask_map50_95": summary.get("mask_map50_95")})
        return {self.model_format: [model, job.output_dir / "weights.npz"]}, metadata

    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        if is_classification(job):
            from .classifier import detect as classify

            return classify(job, model_dir, images)
        import onnxruntime as ort

        from .data import letterbox, read_rgb
        from .evaluate import NMS_IOU, select_cells, to_original

        info = ModelInformation.model_validate(json.loads((model_dir / "model.json").read_text()))
        session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
        model_input = session.get_inputs()[0]
        height, width = model_input.shape[2], model_input.shape[3]
        if not isinstance(height, int) or not isinstance(width, int):
            height = width = int(info.resolution or 416)
        conf, iou = first_threshold(info.conf_threshold, CONF_THRESHOLD), first_threshold(info.iou_threshold, NMS_IOU)
        segment = (info.model_extra or {}).get("output_layout") == ULTRALYTICS_SEGMENT
        classes = len(info.categories)
        results = []
        for path in images:
            rgb = read_rgb(path)
            canvas, scale, px, py = letterbox(rgb, height, width)
            tensor = (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
            outputs = session.run(None, {model_input.name: tensor})
            output = outputs[0][0].T  # cells x (4 + classes [+ mask coefficients])
            detections = Detections(image_id=path.stem)
            for cell, xyxy, cls, score in select_cells(output[:, :4], output[:, 4:4 + classes], conf=conf, iou=iou):
                category = info.categories[cls]
                x1, y1, x2, y2 = to_original(xyxy, scale, px, py, rgb.shape[1], rgb.shape[0])
                if segment and category.type == "segmentation":
                    # the shared reading of masks, as the detector's (loop_shared.yolo_segment)
                    x, y = round(x1), round(y1)
                    box = (x, y, round(x2) - x, round(y2) - y)
                    polygon = instance_polygon(output[cell, 4 + classes:], outputs[1][0], xyxy, (width, height),
                                               Letterbox(scale, scale, px, py), box)
                    if polygon is not None:
                        detections.segmentation_detections.append(SegmentationDetection(
                            category_name=category.name, category_id=category.id, model_name=info.version,
                            confidence=round(score, 3), shape=Shape(points=[Point(x=u, y=v) for u, v in polygon])))
                elif category.type == "point":
                    detections.point_detections.append(PointDetection(
                        category_name=category.name, category_id=category.id, x=round((x1 + x2) / 2, 1),
                        y=round((y1 + y2) / 2, 1), model_name=info.version, confidence=round(score, 3)))
                elif x2 - x1 >= 1 and y2 - y1 >= 1:
                    detections.box_detections.append(BoxDetection(
                        category_name=category.name, category_id=category.id, x=round(x1), y=round(y1),
                        width=round(x2 - x1), height=round(y2 - y1), model_name=info.version,
                        confidence=round(score, 3)))
            results.append(detections)
        return results
