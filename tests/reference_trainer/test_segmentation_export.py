"""The reference trainer's segmentation export: the layout the detector decodes, and box models as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
import pytest
from flax import nnx

from loop_detector.onnx_outputs import OutputReader
from loop_reference_trainer.export import export_onnx
from loop_reference_trainer.logic import ReferenceTrainerLogic
from loop_reference_trainer.network import PROTOS, Detector
from loop_reference_trainer.train import flat
from loop_shared.imaging import letterbox
from loop_shared.output_layouts import resolve_layout
from loop_shared.schemas import Category
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT
from loop_trainer.logic import TrainingJob

HEIGHT, WIDTH = 64, 96
CATEGORIES = [Category(id="b", name="square", type="box"), Category(id="s", name="blob", type="segmentation")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A segmentation model in which every cell detects, with coefficients 1 and prototypes 1 everywhere (so every
    mask covers its whole box)."""
    model = Detector(len(CATEGORIES), seed=0, width=8, masks=PROTOS)
    model.cls_out.bias.value = jnp.full((2,), 4.0)
    model.coef_out.kernel.value = jnp.zeros_like(model.coef_out.kernel.value)
    model.coef_out.bias.value = jnp.ones((PROTOS,))
    model.proto_out.kernel.value = jnp.zeros_like(model.proto_out.kernel.value)
    model.proto_out.bias.value = jnp.ones((PROTOS,))
    model.detail4.kernel.value = jnp.zeros_like(model.detail4.kernel.value)
    model.eval()  # type: ignore[no-untyped-call]
    path = tmp_path_factory.mktemp("segmentation") / "model.onnx"
    export_onnx(model, HEIGHT, WIDTH, path)
    return path


def test_an_exported_segmentation_model_is_decoded_by_the_detector_into_polygons(exported: Path) -> None:
    path = exported

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = [tuple(o.shape) for o in session.get_outputs()]
    assert shapes == [(1, 4 + 2 + PROTOS, (HEIGHT // 8) * (WIDTH // 8)), (1, PROTOS, HEIGHT // 4, WIDTH // 4)]
    layout = resolve_layout(shapes, len(CATEGORIES), ULTRALYTICS_SEGMENT)
    assert (layout.name, layout.scores, layout.protos, layout.masks) == (ULTRALYTICS_SEGMENT, 0, 1, PROTOS)

    image = np.full((HEIGHT, WIDTH, 3), 114, np.uint8)
    canvas, lb = letterbox(image, WIDTH, HEIGHT)
    outputs = session.run(None, {session.get_inputs()[0].name:
                                 (canvas.astype(np.float32) / 255).transpose(2, 0, 1)[None]})
    assert np.allclose(outputs[1], 1.0)  # the prototypes are the proto branch's bias alone
    # make the left half positive, the right negative: masks over the left half of the input
    protos = outputs[1].copy()
    protos[0, :, :, : WIDTH // 8] = 1.0
    protos[0, :, :, WIDTH // 8:] = -1.0
    reader = OutputReader(layout, CATEGORIES, "1", conf_threshold=0.5, iou_threshold=0.45,
                          input_size=(WIDTH, HEIGHT), scores="probabilities")
    found = reader.read([outputs[0], protos], lb, WIDTH, HEIGHT)
    assert found.segmentation_detections, found
    for detection in found.segmentation_detections:
        assert detection.category_name == "blob"
        assert not isinstance(detection.shape, str) and len(detection.shape.points) >= 3
        assert max(p.x for p in detection.shape.points) <= WIDTH // 2  # the mask's right edge: the prototypes'
    assert all(d.category_name == "square" for d in found.box_detections)


def test_a_box_model_has_no_mask_head_and_exports_one_ultralytics_output(tmp_path: Path) -> None:
    model = Detector(3, seed=0, width=8)
    assert not [name for name in flat(nnx.state(model)) if "proto" in name or "coef" in name or "detail4" in name]
    model.eval()  # type: ignore[no-untyped-call]
    export_onnx(model, HEIGHT, WIDTH, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    shapes = [tuple(o.shape) for o in session.get_outputs()]
    assert shapes == [(1, 4 + 3, (HEIGHT // 8) * (WIDTH // 8))]
    assert resolve_layout(shapes, 3).name == "ultralytics"


def test_the_trainers_detection_pass_answers_polygons_for_segmentation_categories(exported: Path,
                                                                                 tmp_path: Path) -> None:
    shutil.copy(exported, tmp_path / "model.onnx")
    info = {"id": "m", "organization": "o", "project": "p", "version": "1.2", "resolution": WIDTH,
            "categories": [c.model_dump(mode="json") for c in CATEGORIES], "output_layout": ULTRALYTICS_SEGMENT,
            "conf_threshold": 0.5, "iou_threshold": 0.45}
    (tmp_path / "model.json").write_text(json.dumps(info))
    image = tmp_path / "image.jpg"
    cv2.imwrite(str(image), np.full((HEIGHT * 2, WIDTH * 2, 3), 114, np.uint8))  # twice the input: scaled back
    job = TrainingJob(training_dir=tmp_path, images_dir=tmp_path, output_dir=tmp_path, categories=CATEGORIES,
                      hyperparameters={})
    [found] = ReferenceTrainerLogic().detect(job, tmp_path, [image])
    assert found.segmentation_detections and all(d.category_name == "blob" for d in found.segmentation_detections)
    assert all(d.category_name == "square" for d in found.box_detections)
    for detection in found.segmentation_detections:
        assert not isinstance(detection.shape, str) and len(detection.shape.points) >= 3
        assert all(0 <= p.x <= WIDTH * 2 and 0 <= p.y <= HEIGHT * 2 for p in detection.shape.points)
