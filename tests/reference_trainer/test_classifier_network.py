"""The reference classifier's colour weight: at 0 the network sees the edge maps only, and the same picture in
other colours gets the same scores; by default it sees the colours too (docs/reference-classifier.md)."""

from __future__ import annotations

import cv2
import jax.numpy as jnp
import numpy as np

from loop_reference_trainer.classifier.network import Classifier


def picture() -> np.ndarray:
    """1 x 64 x 96 x 3 floats in 0..1: shapes in different colours on a coloured background."""
    rng = np.random.default_rng(5)
    image = np.full((64, 96, 3), rng.integers(40, 200, 3), np.uint8)
    cv2.circle(image, (30, 30), 14, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    cv2.rectangle(image, (60, 12), (84, 40), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return image[None].astype(np.float32) / 255


def test_without_the_colours_the_scores_do_not_change_with_them() -> None:
    model = Classifier(4, seed=2, width=8, colour=0.0)
    model.eval()  # type: ignore[no-untyped-call]
    x = picture()
    swapped = x[..., [2, 0, 1]]  # the same shapes, every colour another one
    scores = np.asarray(model(jnp.asarray(x)))
    assert np.abs(scores).max() > 0.01  # the network answers something
    assert np.allclose(np.asarray(model(jnp.asarray(swapped))), scores, atol=1e-5)


def test_by_default_the_network_sees_the_colours() -> None:
    """(And the check above can fail: a network that sees the colours answers the swapped picture differently.)"""
    model = Classifier(4, seed=2, width=8)
    model.eval()  # type: ignore[no-untyped-call]
    x = picture()
    assert not np.allclose(np.asarray(model(jnp.asarray(x[..., [2, 0, 1]]))), np.asarray(model(jnp.asarray(x))),
                           atol=1e-5)
