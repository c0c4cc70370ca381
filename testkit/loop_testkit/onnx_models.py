"""ONNX detectors built locally with the `onnx` package (no weights can be downloaded), in the Ultralytics
output layout the default detector logic reads.

The grid detector is tiny but real: it scores each grid cell by its mean colour. The input is `[1, 3, S, S]`
(RGB in 0..1). Average pooling gives the mean of each channel per cell; the output, `[1, 4 + C, cells]`, holds
each cell's box (centre, size) and C class scores taken from C chosen colour channels. A pure red square that fills
a cell therefore yields one box of class 0 with a score near 1, a half-bright one a score near 0.5: outputs depend
on the image in a way tests can predict exactly. It drives tests and chaos runs; trainers produce real detectors.

The YOLOv8n-like detector has random weights and YOLOv8n's compute: stride-2 stem and stages of widths
16-32-64-128-256 with 3x3 convolutions, and a three-scale head (strides 8, 16, 32: 8400 cells at 640) emitting
[1, 84, 8400]. Class logits are biased low so that, as with a trained model, only a few boxes pass the threshold
and postprocessing does realistic work. The benchmarks time inference with it.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def attached_constant(block: np.ndarray,
                      output: str = "output0") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes and initializers that make `output` the constant `block` plus 0 * mean(images): fixed detections a
    test chooses, still attached to the input (an output that does not depend on it is folded away)."""
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["detections", "nothing"], [output])]
    return nodes, [numpy_helper.from_array(np.asarray(block, np.float32), "detections"),
                   numpy_helper.from_array(np.zeros(1, np.float32), "zero")]


def build_constant_onnx(size: int, block: np.ndarray) -> bytes:
    """Serialized model with input `[1, 3, size, size]` whose one output, output0, is always `block` (e.g. the
    detections [1, 4 + C, N] of the `ultralytics` layout, or [1, N, 5 + C] of `yolov5`)."""
    block = np.asarray(block, np.float32)
    nodes, init = attached_constant(block)
    graph = helper.make_graph(nodes, "constant_output",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(block.shape))], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-nodes")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def build_grid_onnx(size: int = 64, cell: int = 16, channels: tuple[int, ...] = (0, 1, 2), conv: bool = False,
                    fragile: bool = False) -> bytes:
    """Serialized ONNX model; class k scores the mean of RGB channel `channels[k]` in each cell.

    With `conv`, the per-cell means come from a strided convolution with averaging weights instead of pooling,
    so the model has weights that converters can quantize. `fragile` (with `conv`) adds a convolution channel a
    thousand times brighter that the head then drops: one 8-bit scale per tensor cannot hold both, so an INT8
    quantization of this model loses its scores (a model made to quantize badly).
    """
    if size % cell:
        raise ValueError("size must be a multiple of cell")
    per_side = size // cell
    cells = per_side * per_side
    classes = len(channels)
    centres = (np.arange(per_side, dtype=np.float32) + 0.5) * cell
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.stack([cx.ravel(), cy.ravel(), np.full(cells, cell, np.float32), np.full(cells, cell, np.float32)])
    initializers = [
        numpy_helper.from_array(np.asarray([1, classes, cells], np.int64), "score_shape"),
        numpy_helper.from_array(boxes[np.newaxis].astype(np.float32), "boxes"),
    ]
    if conv:
        weights = np.zeros((classes + fragile, 3, cell, cell), np.float32)
        for k, channel in enumerate(channels):
            weights[k, channel] = 1.0 / (cell * cell)
        if fragile:
            weights[classes] = 1000.0 / (cell * cell)
        initializers.append(numpy_helper.from_array(weights, "weights"))
        head = [helper.make_node("Conv", ["images", "weights"], ["convolved" if fragile else "picked"],
                                 kernel_shape=[cell, cell], strides=[cell, cell])]
        if fragile:
            initializers += [numpy_helper.from_array(np.asarray([0], np.int64), "first"),
                             numpy_helper.from_array(np.asarray([classes], np.int64), "last"),
                             numpy_helper.from_array(np.asarray([1], np.int64), "channel_axis")]
            head.append(helper.make_node("Slice", ["convolved", "first", "last", "channel_axis"], ["picked"]))
    else:
        initializers.append(numpy_helper.from_array(np.asarray(channels, np.int64), "channel_index"))
        head = [helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[cell, cell],
                                 strides=[cell, cell]),
                helper.make_node("Gather", ["pooled", "channel_index"], ["picked"], axis=1)]
    nodes = [*head, helper.make_node("Reshape", ["picked", "score_shape"], ["scores"]),
             helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1)]
    graph = helper.make_graph(
        nodes, "grid_colour_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + classes, cells])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-nodes")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def grid_categories(names: tuple[str, ...] = ("red", "green", "blue"),
                    types: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    types = types or ("box",) * len(names)
    return [{"id": f"cat-{name}", "name": name, "type": kind} for name, kind in zip(names, types, strict=True)]


def grid_package(dest_zip: Path, *, size: int = 64, cell: int = 16, categories: list[dict[str, Any]] | None = None,
                 extra: dict[str, Any] | None = None, conv: bool = False, fragile: bool = False) -> Path:
    """A model zip (model.onnx + model.json) of the grid detector, ready to upload to a Loop."""
    categories = categories or grid_categories()
    onnx_bytes = build_grid_onnx(size, cell, tuple(range(len(categories))), conv=conv, fragile=fragile)
    model_json = {"resolution": size, "categories": categories, "output_layout": "ultralytics", **(extra or {})}
    dest_zip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest_zip.parent, delete=False, suffix=".tmp") as tmp, \
            zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr("model.onnx", onnx_bytes)
        archive.writestr("model.json", json.dumps(model_json))
    Path(tmp.name).replace(dest_zip)
    return dest_zip


YOLO_CLASSES = 80  # COCO's, as a YOLOv8n trained there has


class _Graph:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0
        self.macs = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, size: int, act: bool = True) -> tuple[str, int]:
        w = self.name("w")
        scale = np.sqrt(2.0 / (cin * k * k))
        self.inits.append(numpy_helper.from_array(self.rng.normal(0, scale, (cout, cin, k, k)).astype(np.float32), w))
        b = self.name("b")
        self.inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[k // 2] * 4))
        out = size // stride
        self.macs += out * out * cout * cin * k * k
        if not act:
            return y, out
        s, z = self.name("sig"), self.name("silu")
        self.nodes += [helper.make_node("Sigmoid", [y], [s]), helper.make_node("Mul", [y, s], [z])]
        return z, out

    def block(self, x: str, c: int, size: int, repeats: int) -> str:
        for _ in range(repeats):
            h, _ = self.conv(x, c, c, 3, 1, size)
            h, _ = self.conv(h, c, c, 3, 1, size)
            y = self.name("add")
            self.nodes.append(helper.make_node("Add", [x, h], [y]))
            x = y
        return x

    def const(self, array: np.ndarray) -> str:
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(array, n))
        return n


def yolov8n_like(resolution: int = 640, seed: int = 0) -> tuple[bytes, float]:
    """Serialized ONNX model and its compute in GFLOPs (2 x multiply-accumulates)."""
    g = _Graph(seed)
    x, size = g.conv("images", 3, 16, 3, 2, resolution)
    widths, repeats, features = [32, 64, 128, 256], [1, 2, 2, 1], []
    c = 16
    for width, rep in zip(widths, repeats, strict=True):
        x, size = g.conv(x, c, width, 3, 2, size)
        x = g.block(x, width, size, rep)
        c = width
        features.append((x, width, size))
    outputs = []
    for feat, width, fsize in features[1:]:  # strides 8, 16, 32
        box, _ = g.conv(feat, width, 64, 3, 1, fsize)
        box, _ = g.conv(box, 64, 4, 1, 1, fsize, act=False)
        cls, _ = g.conv(feat, width, 80, 3, 1, fsize)
        cls, _ = g.conv(cls, 80, YOLO_CLASSES, 1, 1, fsize, act=False)
        cells = fsize * fsize
        box_r, cls_r = g.name("br"), g.name("cr")
        g.nodes += [helper.make_node("Reshape", [box, g.const(np.array([1, 4, cells], np.int64))], [box_r]),
                    helper.make_node("Reshape", [cls, g.const(np.array([1, YOLO_CLASSES, cells], np.int64))], [cls_r])]
        # boxes: cell centres plus small offsets, sizes around 3 cells; scores: sigmoid of low-biased logits
        stride = resolution // fsize
        centres = (np.stack(np.meshgrid(np.arange(fsize), np.arange(fsize))[::-1], 0).reshape(2, cells)[::-1]
                   .astype(np.float32) + 0.5) * stride
        xy, wh, decoded, scores, biased = (g.name(p) for p in ("xy", "wh", "dec", "sc", "bias"))
        sliced_xy, sliced_wh = g.name("sxy"), g.name("swh")
        g.nodes += [
            helper.make_node("Slice", [box_r, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)),
                                       g.const(np.array([1], np.int64))], [sliced_xy]),
            helper.make_node("Slice", [box_r, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64)),
                                       g.const(np.array([1], np.int64))], [sliced_wh]),
            helper.make_node("Add", [sliced_xy, g.const(centres[np.newaxis])], [xy]),
            helper.make_node("Add", [g.const(np.full((1, 1, 1), 3.0 * stride, np.float32)), sliced_wh], [wh]),
            helper.make_node("Concat", [xy, wh], [decoded], axis=1),
            helper.make_node("Add", [cls_r, g.const(np.full((1, 1, 1), -5.0, np.float32))], [biased]),
            helper.make_node("Sigmoid", [biased], [scores]),
        ]
        joined = g.name("out")
        g.nodes.append(helper.make_node("Concat", [decoded, scores], [joined], axis=1))
        outputs.append(joined)
    g.nodes.append(helper.make_node("Concat", outputs, ["output0"], axis=2))
    cells = sum((resolution // s) ** 2 for s in (8, 16, 32))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, resolution, resolution])]
    outputs_info = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + YOLO_CLASSES, cells])]
    graph = helper.make_graph(g.nodes, "yolov8n_like", inputs, outputs_info, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), 2 * g.macs / 1e9


def yolov8n_like_package(path: Path, resolution: int = 640) -> tuple[Path, float]:
    data, gflops = yolov8n_like(resolution)
    categories = [{"id": f"c{i}", "name": f"class {i}", "type": "box"} for i in range(YOLO_CLASSES)]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.onnx", data)
        archive.writestr("model.json", json.dumps({"resolution": resolution, "categories": categories,
                                                   "output_layout": "ultralytics"}))
    return path, gflops
