"""The reference classifier network: a fixed edge front end, the detector's building blocks (..network) down to
stride 16, a score per category for every stride-8 cell, and the mean of the cells' scores plus their maximum as the
image's scores (multiple-instance pooling: every cell votes, cells that show no object learn to vote for nothing in
particular; the maximum lets one clear object decide early in a short training).
Exported, it ends in a softmax: `[N, C]` probabilities.

The front end adds, to the three colour channels, the strength of the edges in four directions (a derivative of a
Gaussian, 5 x 5, per colour channel; the root of the sum of the squares over the channels). Those maps do not
depend on which colour is darker or on what the colours are; without them the network did not learn shapes in
random colours at all (docs/reference-classifier.md). `colour` weighs the colour channels beside them (1,
COLOUR_GAIN, unless the trainer says otherwise: it decides per project from the training images, .hyper). At 0 the
network is blind to colour and, on generated `hard` projects (random colours), left chance after about 10 epochs
instead of 15 to 45; a short training on an `easy` project, whose classes also differ in colour, needs them
(docs/reference-classifier.md).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..network import ConvBN, Residual, host_kernels, upsample

DIRECTIONS = 4
EDGE_GAIN = 4.0   # edge maps of a hard step come out near 1, like the colour channels
COLOUR_GAIN = 1.0  # weight of the colour channels beside the edge maps (see the module's docstring)


def edge_kernel() -> np.ndarray:
    """5 x 5 x 3 x (DIRECTIONS * 3) HWIO: a derivative of a Gaussian (sigma 1) per direction and colour channel."""
    r = np.arange(-2, 3, dtype=np.float32)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    gauss = np.exp(-(xx ** 2 + yy ** 2) / 2.0)
    kernel = np.zeros((5, 5, 3, DIRECTIONS * 3), np.float32)
    for d, angle in enumerate(np.arange(DIRECTIONS) * np.pi / DIRECTIONS):
        derivative = (np.cos(angle) * xx + np.sin(angle) * yy) * gauss
        for c in range(3):
            kernel[:, :, c, d * 3 + c] = derivative / np.abs(derivative).sum()
    return kernel


EDGE_KERNEL = edge_kernel()


def edges(x: jax.Array) -> jax.Array:
    """NHWC colours in 0..1 → N x H x W x DIRECTIONS edge strengths (whatever the colours and their order)."""
    e = jax.lax.conv_general_dilated(x, jnp.asarray(EDGE_KERNEL), (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    e = e.reshape(*e.shape[:3], DIRECTIONS, 3)
    return jnp.sqrt(jnp.sum(e * e, axis=-1) * EDGE_GAIN ** 2 + 1e-4)


class Classifier(nnx.Module):
    def __init__(self, classes: int, seed: int, width: int = 16, colour: float = COLOUR_GAIN) -> None:
        w = width
        rngs, k = nnx.Rngs(seed), host_kernels(seed)
        self.stem = ConvBN(3 + DIRECTIONS, w, 3, 2, rngs, k)             # /2
        self.down4 = ConvBN(w, 2 * w, 3, 2, rngs, k)                     # /4
        self.block4 = Residual(2 * w, rngs, k)
        self.down8 = ConvBN(2 * w, 4 * w, 3, 2, rngs, k)                 # /8
        self.block8 = Residual(4 * w, rngs, k)
        self.block8b = Residual(4 * w, rngs, k)
        self.down16 = ConvBN(4 * w, 6 * w, 3, 2, rngs, k)                # /16: the context of each cell
        self.block16 = Residual(6 * w, rngs, k)
        self.lateral = ConvBN(6 * w, 4 * w, 1, 1, rngs, k)
        self.head = nnx.Conv(4 * w, classes, (1, 1), kernel_init=k, rngs=rngs)
        self.classes = classes
        self.colour = colour

    def cells(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 (height and width multiples of 16) → scores N x H/8 x W/8 x classes."""
        colours = x if self.colour == 1 else x * self.colour  # the default exports no extra product
        x = self.stem(jnp.concatenate([colours, edges(x)], axis=-1))
        x = self.block8b(self.block8(self.down8(self.block4(self.down4(x)))))
        x = x + upsample(self.lateral(self.block16(self.down16(x))))
        scores: jax.Array = self.head(x)
        return scores

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 → logits N x classes: the mean of the cells' scores plus their maximum."""
        scores = self.cells(x)
        logits: jax.Array = jnp.mean(scores, axis=(1, 2)) + jnp.max(scores, axis=(1, 2))
        return logits


def export_function(model: Classifier) -> Callable[[jax.Array], jax.Array]:
    """The function exported to ONNX: NCHW input in 0..1 → [N, classes] probabilities."""
    def forward(images: jax.Array) -> jax.Array:
        return jax.nn.softmax(model(jnp.transpose(images, (0, 2, 3, 1))), axis=-1)
    return forward
