"""The reference classifier's inputs: edge maps that do not depend on the colours, and training windows centred on
what stands out of the background."""

from __future__ import annotations

import cv2
import jax.numpy as jnp
import numpy as np

from loop_reference_trainer.classifier.data import Images, batch, colour_tells_apart, crop_size, saliency, sample
from loop_reference_trainer.classifier.hyper import ClassifierHyper
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


def scenes(rng: np.random.Generator, per_class: int, class_colours: list[tuple[int, int, int]] | None) -> Images:
    """Four classes by shape (circle, square, triangle, cross), objects on mottled random backgrounds; each class in
    its own colour, or (`class_colours` None) every object and background in random colours."""
    images, labels = [], []
    for label in range(4):
        for _ in range(per_class):
            image = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3)), 16, axis=0), 16, axis=1).astype(np.uint8)
            colour = class_colours[label] if class_colours else tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y = int(rng.integers(30, 98)), int(rng.integers(30, 66))
            if label == 0:
                cv2.circle(image, (x, y), 20, colour, -1)
            elif label == 1:
                cv2.rectangle(image, (x - 18, y - 18), (x + 18, y + 18), colour, -1)
            elif label == 2:
                cv2.fillPoly(image, [np.array([(x, y - 22), (x - 20, y + 16), (x + 20, y + 16)], np.int32)], colour)
            else:
                cv2.rectangle(image, (x - 20, y - 5), (x + 20, y + 5), colour, -1)
                cv2.rectangle(image, (x - 5, y - 20), (x + 5, y + 20), colour, -1)
            images.append(image)
            labels.append(label)
    return Images([str(k) for k in range(len(images))], images, np.array(labels, np.int32))


def test_colours_count_where_each_class_has_its_own_and_not_where_they_are_random() -> None:
    rng = np.random.default_rng(3)
    own = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20)]
    tells, accuracy, majority = colour_tells_apart(scenes(rng, 12, own))
    assert tells and accuracy >= 0.8 and majority == 0.25
    tells, accuracy, majority = colour_tells_apart(scenes(rng, 12, None))
    assert not tells and accuracy < 0.45 and majority == 0.25


def test_the_colour_weight_is_decided_from_the_images_unless_the_project_sets_it() -> None:
    assert ClassifierHyper().colour < 0
    assert ClassifierHyper.from_job({"colour": 0}).colour == 0.0
    assert ClassifierHyper.from_job({"colour": 7}).colour == 1.0  # clamped, with a logged reason
