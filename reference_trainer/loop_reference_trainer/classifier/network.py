"""The reference classifier network: the detector's building blocks (..network) down to stride 32, global average
and max pooling, one dense layer to a score per category. Exported, it ends in a softmax: `[N, C]` probabilities."""

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
        self.down32 = ConvBN(4 * w, 6 * w, 3, 2, rngs, k)                # /32
        self.block32 = Residual(6 * w, rngs, k)
        self.head = nnx.Linear(12 * w, classes, kernel_init=k, rngs=rngs)
        assert self.head.bias is not None
        self.head.bias.value = jnp.zeros((classes,), jnp.float32)
        self.classes = classes

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: NHWC floats in 0..1 → logits N x classes."""
        x = self.block8(self.down8(self.block4(self.down4(self.stem(x)))))
        x = self.block32(self.down32(self.block16(self.down16(x))))
        # the mean says how much of the image shows a class, the maximum whether it shows it at all
        pooled = jnp.concatenate([jnp.mean(x, axis=(1, 2)), jnp.max(x, axis=(1, 2))], axis=-1)
        logits: jax.Array = self.head(pooled)
        return logits


def export_function(model: Classifier) -> Callable[[jax.Array], jax.Array]:
    """The function exported to ONNX: NCHW input in 0..1 → [N, classes] probabilities."""
    def forward(images: jax.Array) -> jax.Array:
        return jax.nn.softmax(model(jnp.transpose(images, (0, 2, 3, 1))), axis=-1)
    return forward
