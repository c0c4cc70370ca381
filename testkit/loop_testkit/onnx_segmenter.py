"""An instance-segmentation model in the common export layout, built with the `onnx` package: output0, the
detections `[1, 4 + C + 2, N]`, and output1, two mask prototypes `[1, 2, S/4, S/4]`.

The detections are constants the test chooses (box centre and size in model pixels, C class scores, 2 mask
coefficients per candidate); the prototypes come from the image: prototype 0 is the red channel and prototype 1
the green one, each averaged over 4 x 4 pixels and mapped to a logit that is positive where the channel is brighter
than half. A candidate with coefficients (1, 0) therefore segments whatever is red inside its box, one with
(0, 1) whatever is green: a test draws a shape of known pixels and knows the mask the model must give back.

With `conv`, the prototypes come from two convolutions instead (a strided 4 x 4 one averaging each channel, then a
1 x 1 one mapping red and green to the same logits), so the model has weights an INT8 converter quantizes, and a
last layer before an output, which the converter keeps float.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .onnx_models import attached_constant

PROTO_GAIN = 40.0  # logit per unit of channel brightness above one half
RED, GREEN = (1.0, 0.0), (0.0, 1.0)  # mask coefficients that pick prototype 0 or 1


def candidate(cx: float, cy: float, w: float, h: float, scores: list[float],
              coefficients: tuple[float, float]) -> list[float]:
    """One column of the detections output: box, class scores, mask coefficients."""
    return [cx, cy, w, h, *scores, *coefficients]


def _conv_prototypes() -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """output1 from convolutions: channel means over 4 x 4 pixels, then gain x (mean - 0.5) for red and green."""
    average = np.zeros((3, 3, 4, 4), np.float32)
    for channel in range(3):
        average[channel, channel] = 1 / 16
    project = np.zeros((2, 3, 1, 1), np.float32)
    project[0, 0], project[1, 1] = PROTO_GAIN, PROTO_GAIN
    init = [numpy_helper.from_array(average, "average_weights"),
            numpy_helper.from_array(np.zeros(3, np.float32), "average_bias"),
            numpy_helper.from_array(project, "proto_weights"),
            numpy_helper.from_array(np.full(2, -PROTO_GAIN / 2, np.float32), "proto_bias")]
    nodes = [helper.make_node("Conv", ["images", "average_weights", "average_bias"], ["averaged"],
                              kernel_shape=[4, 4], strides=[4, 4], name="average"),
             helper.make_node("Relu", ["averaged"], ["features"], name="relu"),
             helper.make_node("Conv", ["features", "proto_weights", "proto_bias"], ["output1"],
                              kernel_shape=[1, 1], name="proto")]
    return nodes, init


def build_segmenter_onnx(size: int, candidates: list[list[float]], swap_outputs: bool = False,
                         conv: bool = False) -> bytes:
    """Serialized model with input `[1, 3, size, size]`; `candidates` are the columns of output0. With
    `swap_outputs` the prototypes come first among the outputs (an export may order them either way); with
    `conv` the prototypes come from convolutions (weights to quantize), with the same values."""
    if size % 4:
        raise ValueError("size must be a multiple of 4")
    detections = np.asarray(candidates, np.float32).T[np.newaxis]  # [1, 4 + C + 2, N]
    nodes, init = attached_constant(detections)
    init += [numpy_helper.from_array(np.asarray([0], np.int64), "first"),
             numpy_helper.from_array(np.asarray([2], np.int64), "last"),
             numpy_helper.from_array(np.asarray([1], np.int64), "channel_axis"),
             numpy_helper.from_array(np.asarray([0.5], np.float32), "half"),
             numpy_helper.from_array(np.asarray([PROTO_GAIN], np.float32), "gain")]
    if conv:
        proto_nodes, proto_init = _conv_prototypes()
        nodes += proto_nodes
        used = {name for node in nodes for name in node.input}
        init = [tensor for tensor in init + proto_init if tensor.name in used]
    else:
        nodes += [
            helper.make_node("Slice", ["images", "first", "last", "channel_axis"], ["red_green"]),
            helper.make_node("AveragePool", ["red_green"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
            helper.make_node("Sub", ["pooled", "half"], ["centred"]),
            helper.make_node("Mul", ["centred", "gain"], ["output1"]),
        ]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(detections.shape)),
               helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, 2, size // 4, size // 4])]
    graph = helper.make_graph(nodes, "colour_segmenter",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              outputs[::-1] if swap_outputs else outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-nodes")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def write_package(dest: Path, onnx_bytes: bytes, model_json: dict[str, Any]) -> Path:
    """A model zip (model.onnx + model.json), or a directory holding both when `dest` has no `.zip` suffix."""
    if dest.suffix != ".zip":
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "model.onnx").write_bytes(onnx_bytes)
        (dest / "model.json").write_text(json.dumps(model_json))
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as archive:
        archive.writestr("model.onnx", onnx_bytes)
        archive.writestr("model.json", json.dumps(model_json))
    return dest
