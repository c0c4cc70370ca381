"""An image classifier built with the `onnx` package: one output `[1, 3]`, the image's mean red, green and blue
(0..1), times a gain. With gain 1 the scores read as probabilities of the classes red, green and blue; with a
larger gain they are logits, whose softmax a test can compute by hand.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_classifier_onnx(size: int, gain: float = 1.0) -> bytes:
    """Serialized model with input `[1, 3, size, size]` and output `[1, 3]`: gain x the mean of each channel."""
    nodes = [helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("Mul", ["means", "gain"], ["output0"])]
    graph = helper.make_graph(nodes, "colour_classifier",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(np.asarray([gain], np.float32), "gain")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="loop-nodes")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
