"""The accuracy gate for classifiers (`classification`): does the converted model pick the same class?

Both models' outputs are read as the detector reads them (`loop_shared.classification.probabilities`, with
model.json's `scores`). Reported: `top1_agreement`, the share of images whose best class is the source's
(LOOP_MIN_TOP1_AGREEMENT limits it), `accuracy_drop` = 1 - that agreement, and the mean and largest absolute
difference of the class probabilities (LOOP_MAX_PROBABILITY_DIFFERENCE limits the mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loop_shared.classification import CLASSIFICATION, PROBABILITIES, probabilities

from .model_runs import ModelRun


def class_probabilities(model: Path, images: list[Path], model_info: dict[str, Any]) -> np.ndarray:
    """[images, C]: the class probabilities of each image that decodes."""
    run = ModelRun(model, model_info)
    layout = run.layout()
    if layout.name != CLASSIFICATION:
        raise ValueError(f"expected a {CLASSIFICATION} model, the outputs read as {layout.name}")
    scores = str(model_info.get("scores", PROBABILITIES))
    rows = [probabilities(outputs[layout.scores], scores) for outputs in run.outputs(images)]
    return np.stack(rows) if rows else np.zeros((0, run.classes), np.float32)


def measure_classification(source: Path, converted: Path, images: list[Path],
                           model_info: dict[str, Any]) -> dict[str, Any]:
    """The figures of one conversion of a classifier."""
    reference = class_probabilities(source, images, model_info)
    candidate = class_probabilities(converted, images, model_info)
    if len(reference) == 0:
        agreement, mean_difference, max_difference = 1.0, 0.0, 0.0
    else:
        agreement = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
        difference = np.abs(reference - candidate)
        mean_difference, max_difference = float(difference.mean()), float(difference.max())
    return {"images": len(reference), "reference": "the source model's class probabilities",
            "top1_agreement": round(agreement, 4), "accuracy_drop": round(1.0 - agreement, 4),
            "probability_difference_mean": round(mean_difference, 4),
            "probability_difference_max": round(max_difference, 4)}
