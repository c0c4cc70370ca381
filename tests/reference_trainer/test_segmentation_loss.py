"""The reference trainer's mask targets and mask loss: only segmentation objects train masks, inside their box."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from loop_reference_trainer.data import CELLS_PER_MASK, Split, assign, batch, mask_targets, outline_mask
from loop_reference_trainer.masks import mask_loss
from loop_reference_trainer.network import PROTO_STRIDE, Detector
from loop_reference_trainer.train import loss_fn

HEIGHT, WIDTH = 64, 96
SQUARE = np.array([[8.0, 8.0], [40.0, 8.0], [40.0, 40.0], [8.0, 40.0]])  # an outline, input pixels


def test_mask_targets_draw_cells_of_segmentation_objects_only() -> None:
    boxes = np.array([[50, 10, 90, 50, 0], [8, 8, 40, 40, 1]], np.float32)  # a box object and a polygon
    owner = assign(boxes, HEIGHT, WIDTH)[3]
    cells, masks, box, weight = mask_targets([None, (SQUARE, (0, 0, WIDTH, HEIGHT))], boxes, owner, HEIGHT,
                                             WIDTH, np.random.default_rng(0))
    drawn = cells >= 0
    assert 1 <= drawn.sum() <= CELLS_PER_MASK
    assert set(owner[cells[drawn]].tolist()) == {1}          # no cell of the box object
    assert weight[drawn].sum() == pytest.approx(1.0) and not weight[~drawn].any()
    assert (box[drawn] == boxes[1, :4]).all()
    # the mask: the square at a quarter of the resolution, nothing of the box object
    expected = np.zeros((HEIGHT // PROTO_STRIDE, WIDTH // PROTO_STRIDE), bool)
    expected[2:10, 2:10] = True
    assert ((masks[drawn][0] > 127) == expected).all()


def test_a_mosaic_part_cuts_the_mask_at_its_region() -> None:
    mask = outline_mask((SQUARE, (0, 0, 24, HEIGHT)), HEIGHT, WIDTH)
    assert mask[:, 6:].max() == 0 and mask[4, 2:6].min() == 255


def test_the_mask_loss_looks_only_inside_the_box_and_only_at_drawn_cells() -> None:
    rng = np.random.default_rng(1)
    coefs = jnp.asarray(rng.normal(size=(1, 12, 4)), jnp.float32)
    protos = jnp.asarray(rng.normal(size=(1, 8, 12, 4)), jnp.float32)
    truth = jnp.asarray((rng.random((1, 2, 8, 12)) > 0.5) * 255, jnp.uint8)
    box = jnp.asarray([[[8.0, 8.0, 24.0, 24.0], [0.0, 0.0, 48.0, 32.0]]])
    cells, weight = jnp.asarray([[3, -1]]), jnp.asarray([[1.0, 1.0]])
    loss = mask_loss(coefs, protos, cells, truth, box, weight)
    assert float(loss) > 0
    # prototypes outside the drawn cell's box (prototype pixels 2..5 hold its centres) do not count
    changed = protos.at[:, 7, :, :].set(100.0).at[:, :, 10, :].set(-100.0)
    assert float(mask_loss(coefs, changed, cells, truth, box, weight)) == pytest.approx(float(loss), rel=1e-6)
    # nor does the undrawn cell's target
    assert float(mask_loss(coefs, protos, cells, truth.at[:, 1].set(0), box, weight)) == \
        pytest.approx(float(loss), rel=1e-6)
    # a perfect mask inside the box costs (almost) nothing
    perfect = jnp.where(truth[:, :1] > 0, 1.0, -1.0)[0, 0]
    protos_perfect = jnp.broadcast_to(perfect[None, :, :, None], (1, 8, 12, 4)) * 20.0
    ones = jnp.ones((1, 12, 4))
    assert float(mask_loss(ones, protos_perfect, cells, truth, box, weight)) < 1e-6


def test_box_objects_add_no_mask_loss_to_a_segmentation_model() -> None:
    """A segmentation model on a batch of box objects only: the same loss as without mask targets, and no gradient
    reaches the mask coefficients."""
    images = [np.random.default_rng(k).integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8) for k in range(2)]
    boxes = [np.array([[10, 10, 40, 40, 0], [50, 20, 80, 50, 1]], np.float32)] * 2
    split = Split(["a", "b"], images, boxes, [[None, None], [None, None]])
    arrays = batch(split, np.arange(2), HEIGHT, WIDTH, np.random.default_rng(0), 0.0, 0.0, masks=True)
    assert not (arrays[4] >= 0).any()
    model = Detector(2, seed=0, width=8, masks=4)
    plain = nnx.jit(loss_fn)(model, *(jnp.asarray(a) for a in arrays[:4]))
    with_masks, grads = nnx.jit(nnx.value_and_grad(loss_fn))(model, *(jnp.asarray(a) for a in arrays[:4]),
                                                             tuple(jnp.asarray(a) for a in arrays[4:]))
    assert float(with_masks) == pytest.approx(float(plain), rel=1e-5)
    for leaf in jax.tree.leaves(grads["proto_out"]) + jax.tree.leaves(grads["coef_out"]):
        assert not np.asarray(leaf).any()


def test_the_mask_loss_trains_the_mask_head_only() -> None:
    """With polygon objects, the mask loss moves the prototypes and coefficients but leaves every weight the boxes
    and classes use exactly where the box and class losses alone move it (its gradient slowed their learning)."""
    images = [np.random.default_rng(k).integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8) for k in range(2)]
    boxes = [np.array([[50, 20, 80, 50, 0], [8, 8, 40, 40, 1]], np.float32)] * 2
    split = Split(["a", "b"], images, boxes, [[None, SQUARE], [None, SQUARE]])
    arrays = batch(split, np.arange(2), HEIGHT, WIDTH, np.random.default_rng(0), 0.0, 0.0, masks=True)
    assert (arrays[4] >= 0).any()
    model = Detector(2, seed=0, width=8, masks=4)
    tensors = [jnp.asarray(a) for a in arrays]
    plain = nnx.jit(nnx.grad(loss_fn))(model, *tensors[:4])
    with_masks = nnx.jit(nnx.grad(loss_fn))(model, *tensors[:4], tuple(tensors[4:]))
    for name in ("stem", "down4", "block8", "block32", "smooth8", "box_branch", "cls_branch", "cls_out"):
        for a, b in zip(jax.tree.leaves(plain[name]), jax.tree.leaves(with_masks[name]), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    for name in ("proto_a", "proto_out", "detail4", "coef_out"):
        assert any(np.asarray(leaf).any() for leaf in jax.tree.leaves(with_masks[name]))


def test_a_segmentation_model_weighs_its_class_loss_and_a_box_model_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss is SEGMENTATION_CLASS_WEIGHT x class loss + 2 x box loss in a segmentation model, the class loss
    weighing 1 in a box model whatever SEGMENTATION_CLASS_WEIGHT is (evaluated eagerly: a jitted loss would keep the
    weight it was traced with)."""
    from loop_reference_trainer import train

    assert train.SEGMENTATION_CLASS_WEIGHT == 2.0
    images = [np.random.default_rng(k).integers(0, 255, (HEIGHT, WIDTH, 3), np.uint8) for k in range(2)]
    boxes = [np.array([[10, 10, 40, 40, 0], [50, 20, 80, 50, 1]], np.float32)] * 2
    split = Split(["a", "b"], images, boxes, [[None, None], [None, None]])
    arrays = [jnp.asarray(a) for a in batch(split, np.arange(2), HEIGHT, WIDTH, np.random.default_rng(0), 0.0,
                                            0.0, masks=True)]

    def loss(masks: int, weight: float) -> float:
        monkeypatch.setattr(train, "SEGMENTATION_CLASS_WEIGHT", weight)
        model = Detector(2, seed=0, width=8, masks=masks)
        return float(loss_fn(model, *arrays[:4], tuple(arrays[4:]) if masks else None))

    box_only, class_only = loss(4, 0.0), loss(4, 1.0) - loss(4, 0.0)   # 2 x box loss; the class loss
    assert class_only > 0
    assert loss(4, 2.0) == pytest.approx(box_only + 2 * class_only, rel=1e-5)
    assert loss(0, 0.0) == pytest.approx(loss(0, 2.0), rel=1e-6)
