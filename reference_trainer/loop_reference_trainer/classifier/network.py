"""The reference classifier network: the detector's building blocks (..network) down to stride 16, class scores per
cell, averaged over the image. Exported, it ends in a softmax: `[N, C]` probabilities."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from ..network import ConvBN, Residual, host_kernels


class Classifier(nnx.Module):
    def __init__(self, classes: int, seed: int, width: int = 16) -> None:
        w = width
        rngs, k = nnx.Rngs(seed), host_kernels(seed)
        self.stem = ConvBN(3, w, 3, 2, rngs, k)                          # /2
        self.down4 = ConvBN(w, 2 * w, 3, 2, rngs, k)                     # /4
        self.block4 = Residual(2 * w, rngs, k)
        self.down8 = ConvBN(2 * w, 3 * w, 3, 2, rngs, k)                 # /8
        self.block8 = Residual(3 * w, rngs, k)
        self.down16 = ConvBN(3 * w, 4 * w, 3, 2, rngs, k)                # /16
        self.block16 = Residual(4 * w, rngs, k)
        self.context = ConvBN(4 * w, 4 * w, 3, 1, rngs, k)
        self.cell_scores = nnx.Conv(4 * w, classes, (1, 1), kernel_init=k, rngs=rngs)
        assert self.cell_scores.bias is not None
        self.cell_scores.bias.value = jnp.zeros((classes,), jnp.float32)
        self.classes = classes

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 → logits N x classes: the mean of the class scores of every cell at stride 16.
        Each cell scores what it sees (an object's cells learn its shape, as a detector's would); the mean weighs
        the classes by how much of the image shows them, which is what makes one dominant."""
        x = self.block8(self.down8(self.block4(self.down4(self.stem(x)))))
        x = self.context(self.block16(self.down16(x)))
        logits: jax.Array = jnp.mean(self.cell_scores(x), axis=(1, 2))
        return logits


def export_function(model: Classifier) -> Callable[[jax.Array], jax.Array]:
    """The function exported to ONNX: NCHW input in 0..1 → [N, classes] probabilities."""
    def forward(images: jax.Array) -> jax.Array:
        return jax.nn.softmax(model(jnp.transpose(images, (0, 2, 3, 1))), axis=-1)
    return forward
