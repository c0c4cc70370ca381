"""The accuracy gate: what a conversion changed, measured on images of the model's project, per output layout.

Source and converted model run over the same images, read as the detector reads them (`model_runs`); the source
model's own results are the reference:

- box detectors (`ultralytics`, `yolov5`): mAP@0.5 of the converted model's boxes (`box_accuracy`);
- instance segmentation (`ultralytics_segment`): the same box figures, plus mask mAP of the converted model's
  masks against the source's masks, for the segmentation categories (`segmentation_accuracy`);
- classifiers (`classification`): top-1 agreement and how far the class probabilities moved
  (`classification_accuracy`).

`gate.refusal` reads the figures against the converter's limits. The worker writes them into the package's
model.json (`conversion`) and its `/conversions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loop_shared.classification import CLASSIFICATION
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT

from .box_accuracy import measure_boxes
from .classification_accuracy import measure_classification
from .model_runs import ModelRun
from .segmentation_accuracy import measure_segmentation


def layout_name(source: Path, model_info: dict[str, Any]) -> str:
    named = model_info.get("output_layout")
    return str(named) if named else ModelRun(source, model_info).layout().name


def measure(source: Path, converted: Path, images: list[Path], model_info: dict[str, Any]) -> dict[str, Any]:
    """The figures of one conversion (they go into the converted package's model.json as `conversion`)."""
    layout = layout_name(source, model_info)
    if layout == CLASSIFICATION:
        return {"layout": layout, **measure_classification(source, converted, images, model_info)}
    if layout == ULTRALYTICS_SEGMENT:
        return {"layout": layout, **measure_segmentation(source, converted, images, model_info)}
    return {"layout": layout, **measure_boxes(source, converted, images, model_info)}
