"""The reference detector network and its output decoding (shared by training, evaluation and export).

A plain stride-16 convolutional backbone; each output cell predicts a box (centre offset, log size relative to
an anchor of two cells) and independent class scores. Decoded, the output is the Ultralytics layout
`[1, 4 + classes, cells]` (centre x, centre y, width, height in input pixels, then class scores), which the
detector's default ONNX logic runs without any extra configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

STRIDE = 16
ANCHOR = 2.0 * STRIDE
WIDTHS = (16, 32, 32, 64, 64, 96, 96)
STRIDES = (2, 2, 1, 2, 1, 2, 1)
PRIOR_LOGIT = -4.6


class Detector(nnx.Module):
    def __init__(self, classes: int, rngs: nnx.Rngs) -> None:
        layers = []
        channels = 3
        for width, stride in zip(WIDTHS, STRIDES, strict=True):
            layers.append(nnx.Conv(channels, width, (3, 3), strides=(stride, stride), rngs=rngs))
            channels = width
        self.layers = nnx.List(layers)
        self.head = nnx.Conv(channels, 4 + classes, (1, 1), rngs=rngs)
        # class logits start at a prior of 1%: focal loss then trains fast and stably (RetinaNet's trick)
        assert self.head.bias is not None
        self.head.bias.value = self.head.bias.value.at[4:].set(PRIOR_LOGIT)
        self.classes = classes

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 → raw head output N x H/16 x W/16 x (4 + classes)."""
        for layer in self.layers:
            x = nnx.silu(layer(x))
        return self.head(x)


def decode(raw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Raw head output → (boxes N x cells x 4 as cx, cy, w, h in input pixels; scores N x cells x classes)."""
    n, h, w, c = raw.shape
    gy, gx = jnp.meshgrid(jnp.arange(h, dtype=raw.dtype), jnp.arange(w, dtype=raw.dtype), indexing="ij")
    offsets = jax.nn.sigmoid(raw[..., :2]) * 2.0 - 0.5
    cx = (offsets[..., 0] + gx) * STRIDE
    cy = (offsets[..., 1] + gy) * STRIDE
    size = jnp.exp(jnp.clip(raw[..., 2:4], -4.0, 4.0)) * ANCHOR
    boxes = jnp.stack([cx, cy, size[..., 0], size[..., 1]], axis=-1).reshape(n, h * w, 4)
    scores = jax.nn.sigmoid(raw[..., 4:]).reshape(n, h * w, c - 4)
    return boxes, scores


def export_function(model: Detector) -> Callable[[jax.Array], jax.Array]:
    """The function exported to ONNX: NCHW input in 0..1 → [N, 4 + classes, cells]."""
    def forward(images: jax.Array) -> jax.Array:
        boxes, scores = decode(model(jnp.transpose(images, (0, 2, 3, 1))))
        return jnp.transpose(jnp.concatenate([boxes, scores], axis=-1), (0, 2, 1))
    return forward
