"""The reference detector network and its output decoding (shared by training, evaluation and export).

A small residual backbone down to stride 32, a top-down feature pyramid that brings the stride-16 and stride-32
features back to stride 8, and one anchor-free head at stride 8 with one branch for the boxes and one for the
classes (what places a box's sides and what tells a square from a triangle differ). Each cell predicts the
distances from its centre to the four sides of a box (left, top, right, bottom, in cells) and one score per class
that is trained to be the square root of the IoU of its box with the object (so the score ranks boxes by how well
they fit). Stride 8 keeps objects of 10 px apart; the pyramid gives every cell the context of a quarter of the
image. Decoded, the output is the Ultralytics layout `[1, 4 + classes, cells]` (centre x, centre y, width, height
in input pixels, then class scores), which the detector's default ONNX logic runs without any extra configuration.

A project with segmentation categories adds a mask head, as YOLACT and Ultralytics' segment models do: a
prototype branch makes PROTOS prototype planes at stride 4, and a third branch of the head gives each cell PROTOS
mask coefficients; an instance's mask logits are its coefficients times the prototypes. The prototypes' convolutions
run on the stride-8 pyramid level, whose result is brought to stride 4 by bilinear interpolation and joined by a
1x1 projection of the stride-4 features (for the edges): 3x3 convolutions at stride 4 with few channels more
than doubled the time of a training step on a CPU. In training the mask head learns on the shared features without
changing them (`segment(..., detach=True)`): the mask loss's gradient in the backbone slowed the boxes' and
classes' learning. Exported, that is the `ultralytics_segment` layout:
`[1, 4 + classes + PROTOS, cells]` and the prototypes `[1, PROTOS, H/4, W/4]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

STRIDE = 8
PRIOR_LOGIT = -4.6   # class scores start at 1 %: the many empty cells do not swamp the first steps
MAX_LOG_DISTANCE = 4.0
PROTO_STRIDE = 4
PROTOS = 16           # mask prototypes (and coefficients per cell) of a segmentation model


Init = Callable[[Any, tuple[int, ...], Any], jax.Array]


def host_kernels(seed: int) -> Init:
    """LeCun-normal kernels truncated at two standard deviations (Flax's default) drawn by NumPy. JAX's
    truncated normal is compiled once per kernel shape, and those compilations took 10 s of every training's
    start on 2 cores."""
    rng = np.random.default_rng(seed)

    def init(key: Any, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        values = rng.standard_normal(shape)
        while (outside := np.abs(values) > 2).any():
            values[outside] = rng.standard_normal(int(outside.sum()))
        std = 1 / math.sqrt(math.prod(shape[:-1])) / 0.87962566103423978  # the std of N(0, 1) cut at ±2
        return jnp.asarray(values * std, dtype)
    return init


class ConvBN(nnx.Module):
    """Convolution, batch normalisation, SiLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, rngs: nnx.Rngs, init: Init) -> None:
        self.conv = nnx.Conv(cin, cout, (kernel, kernel), strides=(stride, stride), use_bias=False,
                             kernel_init=init, rngs=rngs)
        self.norm = nnx.BatchNorm(cout, momentum=0.97, epsilon=1e-3, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return nnx.silu(self.norm(self.conv(x)))


class Residual(nnx.Module):
    """Two 3x3 convolutions around a shortcut."""

    def __init__(self, channels: int, rngs: nnx.Rngs, init: Init) -> None:
        self.a = ConvBN(channels, channels, 3, 1, rngs, init)
        self.b = ConvBN(channels, channels, 3, 1, rngs, init)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.b(self.a(x))


def upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour x2 (a reshape and a broadcast; exports to plain ONNX ops)."""
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
    return x.reshape(n, h * 2, w * 2, c)


class Detector(nnx.Module):
    """`masks` is 0 for a box and point model, PROTOS for one with segmentation categories (the mask head's
    modules exist only then, so a box model's weights and export are what they were without masks)."""

    def __init__(self, classes: int, seed: int, width: int = 16, masks: int = 0) -> None:
        w = width
        rngs, k = nnx.Rngs(seed), host_kernels(seed)
        self.stem = ConvBN(3, w // 2, 3, 2, rngs, k)                      # /2
        self.down4 = ConvBN(w // 2, w, 3, 2, rngs, k)                     # /4
        self.down8 = ConvBN(w, 2 * w, 3, 2, rngs, k)                      # /8
        self.block8 = Residual(2 * w, rngs, k)
        self.down16 = ConvBN(2 * w, 3 * w, 3, 2, rngs, k)                 # /16
        self.block16 = Residual(3 * w, rngs, k)
        self.down32 = ConvBN(3 * w, 4 * w, 3, 2, rngs, k)                 # /32
        self.block32 = Residual(4 * w, rngs, k)
        self.lateral32 = ConvBN(4 * w, 2 * w, 1, 1, rngs, k)
        self.lateral16 = ConvBN(3 * w, 2 * w, 1, 1, rngs, k)
        self.lateral8 = ConvBN(2 * w, 2 * w, 1, 1, rngs, k)
        self.smooth16 = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
        self.smooth8 = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
        self.box_branch = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
        self.cls_branch = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
        self.box_out = nnx.Conv(2 * w, 4, (1, 1), kernel_init=k, rngs=rngs)
        self.cls_out = nnx.Conv(2 * w, classes, (1, 1), kernel_init=k, rngs=rngs)
        assert self.cls_out.bias is not None and self.box_out.bias is not None
        self.cls_out.bias.value = jnp.full((classes,), PRIOR_LOGIT, jnp.float32)  # not weakly typed: that would
        # make the first training step compile a second time
        self.box_out.bias.value = jnp.zeros((4,))  # distances start at one cell
        self.classes = classes
        self.masks = masks
        if masks:
            self.coef_branch = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
            self.coef_out = nnx.Conv(2 * w, masks, (1, 1), kernel_init=k, rngs=rngs)
            self.proto_a = ConvBN(2 * w, 2 * w, 3, 1, rngs, k)
            self.proto_out = nnx.Conv(2 * w, masks, (1, 1), kernel_init=k, rngs=rngs)
            self.detail4 = nnx.Conv(w, masks, (1, 1), kernel_init=k, rngs=rngs)

    def _features(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Stride-4 features and the stride-8 pyramid level."""
        c4 = self.down4(self.stem(x))
        c8 = self.block8(self.down8(c4))
        c16 = self.block16(self.down16(c8))
        c32 = self.block32(self.down32(c16))
        p16 = self.smooth16(self.lateral16(c16) + upsample(self.lateral32(c32)))
        p8 = self.smooth8(self.lateral8(c8) + upsample(p16))
        return c4, p8

    def _head(self, p8: jax.Array, detach: bool = False) -> jax.Array:
        parts = [self.box_out(self.box_branch(p8)), self.cls_out(self.cls_branch(p8))]
        if self.masks:  # a branch of their own: sharing the box branch, the mask loss swamped the boxes' gradients
            parts.append(self.coef_out(self.coef_branch(jax.lax.stop_gradient(p8) if detach else p8)))
        return jnp.concatenate(parts, axis=-1)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 → raw head output N x H/8 x W/8 x (4 + classes [+ masks coefficients])."""
        return self._head(self._features(x)[1])

    def segment(self, x: jax.Array, detach: bool = False) -> tuple[jax.Array, jax.Array]:
        """x: NHWC floats in 0..1 → (raw head output as `__call__`, prototypes N x H/4 x W/4 x masks). `detach`
        (training) keeps the mask loss's gradient out of the shared features: the mask head learns on the
        features the boxes and classes learn, and does not slow their learning."""
        c4, p8 = self._features(x)
        f4, f8 = (jax.lax.stop_gradient(c4), jax.lax.stop_gradient(p8)) if detach else (c4, p8)
        protos = upsample_bilinear(self.proto_out(self.proto_a(f8))) + self.detail4(f4)
        return self._head(p8, detach), protos


def _double(x: jax.Array, axis: int) -> jax.Array:
    """Bilinear x2 along `axis` with pixel centres aligned (edge values repeated): new pixel 2i lies a quarter of an
    old pixel before old pixel i, 2i + 1 a quarter after it."""
    size = x.shape[axis]
    first = jax.lax.slice_in_dim(x, 0, 1, axis=axis)
    last = jax.lax.slice_in_dim(x, size - 1, size, axis=axis)
    before = jnp.concatenate([first, jax.lax.slice_in_dim(x, 0, size - 1, axis=axis)], axis=axis)
    after = jnp.concatenate([jax.lax.slice_in_dim(x, 1, size, axis=axis), last], axis=axis)
    even, odd = 0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after
    stacked = jnp.stack([even, odd], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] *= 2
    return stacked.reshape(shape)


def upsample_bilinear(x: jax.Array) -> jax.Array:
    """NHWC bilinear x2 of plain slices, sums and reshapes (exports to plain ONNX ops)."""
    return _double(_double(x, 1), 2)


def cell_centres(h: int, w: int, dtype: jnp.dtype = jnp.float32) -> tuple[jax.Array, jax.Array]:
    """Centres of the output cells in input pixels, each h*w long (row-major)."""
    gy, gx = jnp.meshgrid(jnp.arange(h, dtype=dtype), jnp.arange(w, dtype=dtype), indexing="ij")
    return ((gx + 0.5) * STRIDE).reshape(-1), ((gy + 0.5) * STRIDE).reshape(-1)


def distances(raw: jax.Array) -> jax.Array:
    """Raw box outputs (..., 4) → distances to left, top, right, bottom in input pixels."""
    return jnp.exp(jnp.clip(raw, -MAX_LOG_DISTANCE, MAX_LOG_DISTANCE)) * STRIDE


def decode(raw: jax.Array, classes: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Raw head output → (boxes N x cells x 4 as cx, cy, w, h in input pixels; scores N x cells x classes).
    `classes` leaves out the mask coefficients that follow the class scores in a segmentation model."""
    n, h, w, c = raw.shape
    classes = c - 4 if classes is None else classes
    cx, cy = cell_centres(h, w, raw.dtype)
    d = distances(raw[..., :4]).reshape(n, h * w, 4)
    x1, y1, x2, y2 = cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]
    boxes = jnp.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)
    scores = jax.nn.sigmoid(raw[..., 4:4 + classes]).reshape(n, h * w, classes)
    return boxes, scores


def export_function(model: Detector) -> Callable[[jax.Array], Any]:
    """The function exported to ONNX: NCHW input in 0..1 → [N, 4 + classes, cells]; a segmentation model's also
    gives the mask coefficients after the scores, [N, 4 + classes + masks, cells], and the prototypes
    [N, masks, H/4, W/4]."""
    def forward(images: jax.Array) -> jax.Array:
        boxes, scores = decode(model(jnp.transpose(images, (0, 2, 3, 1))))
        return jnp.transpose(jnp.concatenate([boxes, scores], axis=-1), (0, 2, 1))

    def forward_segment(images: jax.Array) -> tuple[jax.Array, jax.Array]:
        raw, protos = model.segment(jnp.transpose(images, (0, 2, 3, 1)))
        boxes, scores = decode(raw, model.classes)
        n, h, w = raw.shape[:3]
        coefs = raw[..., 4 + model.classes:].reshape(n, h * w, model.masks)
        detections = jnp.transpose(jnp.concatenate([boxes, scores, coefs], axis=-1), (0, 2, 1))
        return detections, jnp.transpose(protos, (0, 3, 1, 2))
    return forward_segment if model.masks else forward
