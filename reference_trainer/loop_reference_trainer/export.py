"""Export the reference detector to ONNX with jax2onnx and check it against JAX on a random input (every output:
a segmentation model has the detections and the prototypes)."""

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

from .network import Detector, export_function

log = logging.getLogger("reference.export")
logging.getLogger("jax2onnx").setLevel(logging.WARNING)


def export_onnx(model: Detector, height: int, width: int, path: Path) -> None:
    forward = export_function(model)
    proto = to_onnx(forward, [(1, 3, height, width)])
    # the converter's intermediate shapes are recorded in JAX's NHWC layout; ONNX Runtime would warn about each
    # one at every load, so they are left out (they are optional in ONNX)
    del proto.graph.value_info[:]
    tmp = path.with_suffix(".onnx.tmp")
    onnx.save(proto, str(tmp))
    probe = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: probe})
    # compiled as a whole: run op by op, JAX compiles every operation of the network on its own (seconds)
    computed = jax.jit(forward)(jnp.asarray(probe))
    # a segmentation model has two outputs (detections and prototypes), in this order
    references = [np.asarray(a) for a in (computed if isinstance(computed, tuple) else (computed,))]
    if [a.shape for a in exported] != [a.shape for a in references]:
        raise RuntimeError(f"the exported ONNX model's outputs {[a.shape for a in exported]} are not the JAX "
                           f"model's {[a.shape for a in references]}")
    difference = max(float(np.abs(e - r).max()) for e, r in zip(exported, references, strict=True))
    if difference > 1e-2:
        raise RuntimeError(f"the exported ONNX model differs from the JAX model by {difference}")
    os.replace(tmp, path)
    log.info("exported %s (max difference to JAX %.2e)", path.name, difference)
