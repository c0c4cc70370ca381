"""The reference trainer's segmentation export: the layout the detector decodes, and box models as before."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
from flax import nnx

from loop_detector.onnx_outputs import OutputReader
from loop_reference_trainer.export import export_onnx
from loop_reference_trainer.network import PROTOS, Detector
from loop_reference_trainer.train import flat
from loop_shared.imaging import letterbox
from loop_shared.output_layouts import resolve_layout
from loop_shared.schemas import Category
from loop_shared.yolo_segment import ULTRALYTICS_SEGMENT

HEIGHT, WIDTH = 64, 96
CATEGORIES = [Category(id="b", name="square", type="box"), Category(id="s", name="blob", type="segmentation")]


def test_an_exported_segmentation_model_is_decoded_by_the_detector_into_polygons(tmp_path: Path) -> None:
    model = Detector(len(CATEGORIES), seed=0, width=8, masks=PROTOS)
    # every cell detects, with a mask over the left half of the input: protos +1 left, -1 right; coefficients +1
    model.cls_out.bias.value = jnp.full((2,), 4.0)
    model.coef_out.kernel.value = jnp.zeros_like(model.coef_out.kernel.value)
    model.coef_out.bias.value = jnp.ones((PROTOS,))
    model.proto_out.kernel.value = jnp.zeros_like(model.proto_out.kernel.value)
    model.eval()  # type: ignore[no-untyped-call]
    path = tmp_path / "model.onnx"
    export_onnx(model, HEIGHT, WIDTH, path)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = [tuple(o.shape) for o in session.get_outputs()]
    assert shapes == [(1, 4 + 2 + PROTOS, (HEIGHT // 8) * (WIDTH // 8)), (1, PROTOS, HEIGHT // 4, WIDTH // 4)]
    layout = resolve_layout(shapes, len(CATEGORIES), ULTRALYTICS_SEGMENT)
    assert (layout.name, layout.scores, layout.protos, layout.masks) == (ULTRALYTICS_SEGMENT, 0, 1, PROTOS)

    image = np.full((HEIGHT, WIDTH, 3), 114, np.uint8)
    canvas, lb = letterbox(image, WIDTH, HEIGHT)
    outputs = session.run(None, {session.get_inputs()[0].name:
                                 (canvas.astype(np.float32) / 255).transpose(2, 0, 1)[None]})
    # the prototypes are the proto branch's bias alone (kernel 0): make the left half positive, the right negative
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
