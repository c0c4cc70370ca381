"""A tiny but real ONNX detector, built with the `onnx` package: it scores each grid cell by its mean colour.

The input is `[1, 3, S, S]` (RGB in 0..1). Average pooling gives the mean of each channel per cell; the output,
in the Ultralytics layout `[1, 4 + C, cells]`, holds each cell's box (centre, size) and C class scores taken from
C chosen colour channels. A pure red square that fills a cell therefore yields one box of class 0 with a score
near 1, a half-bright one a score near 0.5: outputs depend on the image in a way tests can predict exactly.
It seeds the demo project and drives tests and benchmarks; trainers produce real detectors.
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
