"""Export the reference classifier to ONNX with jax2onnx (output `[1, C]` probabilities) and check it against JAX."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
from jax2onnx import to_onnx

from .network import Classifier, export_function

log = logging.getLogger("reference.classifier.export")
logging.getLogger("jax2onnx").setLevel(logging.WARNING)

TOLERANCE = 1e-3  # probabilities: ONNX Runtime and XLA differ in the order of float sums, not more


def export_onnx(model: Classifier, height: int, width: int, path: Path) -> float:
    """Write `path` atomically after checking that ONNX Runtime's output equals JAX's on a random input; returns
    the largest difference. Raises RuntimeError when they differ by more than TOLERANCE."""
    forward = export_function(model)
    proto = to_onnx(forward, [(1, 3, height, width)])
    del proto.graph.value_info[:]  # NHWC intermediate shapes ONNX Runtime would warn about at every load
    tmp = path.with_suffix(".onnx.tmp")
    onnx.save(proto, str(tmp))
    try:
        probe = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        exported = session.run(None, {session.get_inputs()[0].name: probe})[0]
        reference = np.asarray(jax.jit(forward)(jnp.asarray(probe)))
        if exported.shape != (1, model.classes):
            raise RuntimeError(f"the exported classifier answers {list(exported.shape)}, not [1, {model.classes}]")
        difference = float(np.abs(exported - reference).max())
        if difference > TOLERANCE:
            raise RuntimeError(f"the exported ONNX model differs from the JAX model by {difference}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s (max difference to JAX %.2e)", path.name, difference)
    return difference
