"""An image classifier built with the `onnx` package: one output `[1, 3]`, the image's mean red, green and blue
(0..1), times a gain. With gain 1 the scores read as probabilities of the classes red, green and blue; with a
larger gain they are logits, whose softmax a test can compute by hand.

With `conv`, the means come from a strided convolution (averaging weights) and a fully connected layer (gain x
the identity), so the model has weights an INT8 converter quantizes; with `softmax` as well, the model ends in a
softmax, as Ultralytics' classify exports do (model.json `scores: probabilities`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _conv_nodes(size: int, gain: float, softmax: bool) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    stride = 4 if size % 4 == 0 else 1
    average = np.zeros((3, 3, stride, stride), np.float32)
    for channel in range(3):
        average[channel, channel] = 1 / stride ** 2
    init = [numpy_helper.from_array(average, "average_weights"),
            numpy_helper.from_array(np.zeros(3, np.float32), "average_bias"),
            numpy_helper.from_array(np.eye(3, dtype=np.float32) * gain, "fc_weights"),
            numpy_helper.from_array(np.zeros(3, np.float32), "fc_bias")]
    last = "scores" if softmax else "output0"
    nodes = [helper.make_node("Conv", ["images", "average_weights", "average_bias"], ["averaged"],
                              kernel_shape=[stride, stride], strides=[stride, stride], name="average"),
             helper.make_node("Relu", ["averaged"], ["features"], name="relu"),
             helper.make_node("GlobalAveragePool", ["features"], ["pooled"], name="pool"),
             helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "fc_weights", "fc_bias"], [last], transB=1, name="fc")]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["scores"], ["output0"], axis=1, name="softmax"))
    return nodes, init


def build_classifier_onnx(size: int, gain: float = 1.0, conv: bool = False, softmax: bool = False) -> bytes:
    """Serialized model with input `[1, 3, size, size]` and output `[1, 3]`: gain x the mean of each channel
    (computed by convolutions with `conv`; then through a softmax with `softmax`)."""
    if softmax and not conv:
        raise ValueError("softmax needs conv")
    if conv:
        nodes, init = _conv_nodes(size, gain, softmax)
    else:
        nodes = [helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),
                 helper.make_node("Mul", ["means", "gain"], ["output0"])]
        init = [numpy_helper.from_array(np.asarray([gain], np.float32), "gain")]
    graph = helper.make_graph(nodes, "colour_classifier",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-nodes")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
