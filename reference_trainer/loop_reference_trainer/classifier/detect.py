"""The reference classifier's detections after training, with ONNX Runtime, read exactly as the detector reads a
`classification` model (loop_shared.classification)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from loop_shared.classification import PROBABILITIES, probabilities, top_classes
from loop_shared.schemas import ClassificationDetection, Detections, ModelInformation
from loop_shared.yolo import first_threshold
from loop_trainer.logic import TrainingJob

from ..data import read_rgb
from .data import model_input
from .package import CONF_THRESHOLD


def detect(job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
    import onnxruntime as ort

    info = ModelInformation.model_validate(json.loads((model_dir / "model.json").read_text()))
    extra: dict[str, Any] = info.model_extra or {}
    scores = str(extra.get("scores", PROBABILITIES))
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    model_in = session.get_inputs()[0]
    height, width = model_in.shape[2], model_in.shape[3]
    if not isinstance(height, int) or not isinstance(width, int):
        height = width = int(info.resolution or 192)
    conf = first_threshold(info.conf_threshold, CONF_THRESHOLD)
    results = []
    for path in images:
        tensor = model_input(read_rgb(path), height, width).transpose(2, 0, 1)[np.newaxis]
        probs = probabilities(session.run(None, {model_in.name: tensor})[0], scores)
        detections = Detections(image_id=path.stem)
        for index in top_classes(probs, conf).tolist():
            category = info.categories[index]
            detections.classification_detections.append(ClassificationDetection(
                category_name=category.name, category_id=category.id, model_name=info.version,
                confidence=round(float(probs[index]), 3)))
        results.append(detections)
    return results
