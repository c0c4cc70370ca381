"""The reference classifier's inputs: edge maps that do not depend on the colours, and training windows centred on
what stands out of the background."""

from __future__ import annotations

import cv2
import jax.numpy as jnp
import numpy as np

from loop_reference_trainer.classifier.data import Images, batch, crop_size, saliency, sample
from loop_reference_trainer.classifier.network import DIRECTIONS, edges


def square_scene(colour: tuple[int, int, int], background: tuple[int, int, int]) -> np.ndarray:
    image = np.full((96, 128, 3), background, np.uint8)
    cv2.rectangle(image, (40, 30), (70, 60), colour, -1)
    return image


def test_the_edge_maps_are_the_same_whatever_the_colours_and_which_is_darker() -> None:
    a = square_scene((200, 40, 40), (40, 40, 200))     # red on blue
    b = square_scene((40, 40, 200), (200, 40, 40))     # blue on red: every edge the other way round
    c = a[:, :, ::-1].copy()                           # the colour channels in another order
    maps = [np.asarray(edges(jnp.asarray(x[None].astype(np.float32) / 255))) for x in (a, b, c)]
    assert maps[0].shape == (1, 96, 128, DIRECTIONS)
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-5)
    np.testing.assert_allclose(maps[0], maps[2], atol=1e-5)
    inside, edge = maps[0][0, 45, 55], maps[0][0, 45, 40]
    assert inside.max() < 0.05 and edge.max() > 0.5  # flat inside, strong on the square's left side
    assert edge[0] > 5 * edge[2]                       # a vertical side: the horizontal derivative answers


def test_training_windows_are_centred_on_what_stands_out() -> None:
    image = np.full((240, 320, 3), 90, np.uint8)
    cv2.circle(image, (250, 60), 15, (230, 200, 30), -1)  # one object, far from the centre
    height, width = 256, 320
    crop = crop_size(height, width)
    rng = np.random.default_rng(0)
    salient = saliency(image, 1.0)
    hits = 0
    for _ in range(40):
        window = sample(image, height, width, rng, 0.0, salient)
        assert window.shape == (crop, crop, 3)
        hits += int((np.abs(window.astype(int) - 90).sum(axis=-1) > 150).mean() > 0.05)  # the object is in it
    assert hits >= 36  # uniform centres would show it in about a fifth of the windows
    assert crop_size(32, 64) == 32 and crop_size(256, 320) == 80


def test_a_batch_of_windows_keeps_the_classes_and_caches_the_saliency() -> None:
    images = [square_scene((200, 40, 40), (40, 40, 200)), square_scene((40, 200, 40), (90, 90, 90))]
    split = Images(["a", "b"], images, np.array([1, 0], np.int32))
    windows, labels = batch(split, np.array([1, 0, 1]), 64, 96, np.random.default_rng(1), 0.5)
    assert windows.shape == (3, 64, 64, 3) and windows.dtype == np.uint8
    assert labels.tolist() == [0, 1, 0]
    assert sorted(split.saliency) == [0, 1] and all(abs(s.sum() - 1) < 1e-9 for s in split.saliency.values())
