"""Training loop of the reference detector (runs in the training child process).

Checkpoints after every epoch (model, optimizer, best weights, epoch) make a killed training continue where it
was; weights of a base model continue from there. The best model by test mAP@0.5 is kept and exported.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..logic import Reporter, TrainingJob
from .data import Split, batch, load_split
from .evaluate import confusion_matrix, mean_average_precision, select, to_original
from .network import Detector, decode

log = logging.getLogger("reference.train")


@dataclass
class Hyper:
    resolution: int = 256
    epochs: int = 40
    batch_size: int = 8
    learning_rate: float = 3e-3
    eval_every: int = 4
    seed: int = 0

    @classmethod
    def from_job(cls, hp: dict[str, Any]) -> Hyper:
        h = cls(**{k: type(getattr(cls, k))(v) for k, v in hp.items() if k in cls.__dataclass_fields__})
        if h.resolution % 16 or h.resolution < 64:
            raise ValueError(f"resolution must be a multiple of 16 and at least 64, got {h.resolution}")
        return h


def focal_loss(logits: jax.Array, targets: jax.Array, alpha: float = 0.25, gamma: float = 2.0) -> jax.Array:
    p = jax.nn.sigmoid(logits)
    ce = optax.sigmoid_binary_cross_entropy(logits, targets)
    p_t = p * targets + (1 - p) * (1 - targets)
    weight = alpha * targets + (1 - alpha) * (1 - targets)
    loss: jax.Array = weight * ce * (1 - p_t) ** gamma
    return loss


def loss_fn(model: Detector, images: jax.Array, cls: jax.Array, box: jax.Array, pos: jax.Array) -> jax.Array:
    raw = model(images)
    n, h, w, c = raw.shape
    raw = raw.reshape(n, h * w, c)
    positives = jnp.maximum(pos.sum(), 1.0)
    cls_loss = focal_loss(raw[..., 4:], cls).sum() / positives
    offsets = jax.nn.sigmoid(raw[..., :2]) * 2.0 - 0.5
    box_loss = (jnp.abs(offsets - box[..., :2]).sum(-1) + jnp.abs(raw[..., 2:4] - box[..., 2:4]).sum(-1))
    return cls_loss + 2.0 * (box_loss * pos).sum() / positives


@nnx.jit
def train_step(model: Detector, optimizer: nnx.Optimizer[Detector], images: jax.Array, cls: jax.Array, box: jax.Array,
               pos: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(loss_fn)(model, images, cls, box, pos)
    optimizer.update(model, grads)
    result: jax.Array = loss
    return result


@nnx.jit
def predict(model: Detector, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return decode(model(images))


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def flat(state: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(path): np.asarray(value) for path, value in leaves}


def restore(state: Any, arrays: dict[str, np.ndarray], strict: bool) -> tuple[Any, int]:
    """Replace leaves of `state` by the arrays of the same name and shape; returns (state, leaves replaced)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(state)
    leaves, replaced = [], 0
    for path, value in paths:
        name = jax.tree_util.keystr(path)
        if name in arrays and arrays[name].shape == np.shape(value):
            leaves.append(jnp.asarray(arrays[name]))
            replaced += 1
        elif strict:
            raise ValueError(f"checkpoint lacks {name} with shape {np.shape(value)}")
        else:
            leaves.append(value)
    return jax.tree_util.tree_unflatten(treedef, leaves), replaced


def evaluate(model: Detector, split: Split, classes: int, size: int,
             points: frozenset[int] = frozenset()) -> tuple[float, list[list[Any]]]:
    predictions: list[list[Any]] = []
    for start in range(0, len(split.images), 32):
        images = jnp.asarray(split.images[start:start + 32].astype(np.float32) / 255.0)
        boxes, scores = (np.asarray(a) for a in predict(model, images))
        for k in range(len(images)):
            scale, px, py = split.transforms[start + k]
            preds = []
            for xyxy, cls, score in select(boxes[k], scores[k], conf=0.05):
                x1, y1, x2, y2 = to_original(xyxy, scale, px, py, 10**6, 10**6)
                preds.append((x1, y1, x2, y2, cls, score))
            predictions.append(preds)
    return mean_average_precision(predictions, split.originals, classes, points=points), predictions


def run(job: TrainingJob, reporter: Reporter) -> dict[str, Any]:
    """Train (or continue), keeping the best model by test mAP; returns a summary written to the output dir."""
    hp = Hyper.from_job(job.hyperparameters)
    categories = [c for c in job.categories if c.type in (None, "box", "point")]
    class_of = {c.id: k for k, c in enumerate(categories)}
    points = frozenset(k for k, c in enumerate(categories) if c.type == "point")
    items = job.image_data()
    train_items = [i for i in items if i.get("set") in ("train", "val")]
    test_items = [i for i in items if i.get("set") == "test"] or train_items
    started = time.monotonic()
    train = load_split(train_items, job.images_dir, class_of, hp.resolution)
    test = load_split(test_items, job.images_dir, class_of, hp.resolution)
    log.info("loaded %d train and %d test images in %.1f s", len(train.images), len(test.images),
             time.monotonic() - started)
    if len(train.images) == 0:
        raise ValueError("no training images")

    model = Detector(len(categories), nnx.Rngs(hp.seed))
    batch_size = min(hp.batch_size, len(train.images))
    steps_per_epoch = max(1, len(train.images) // batch_size)
    schedule = optax.warmup_cosine_decay_schedule(0.0, hp.learning_rate, steps_per_epoch * 2,
                                                  steps_per_epoch * hp.epochs, hp.learning_rate * 0.02)
    optimizer = nnx.Optimizer(model, optax.adamw(schedule, weight_decay=1e-4), wrt=nnx.Param)

    checkpoint = job.training_dir / "checkpoint.npz"
    start_epoch, best_map, best = 0, -1.0, None
    if checkpoint.exists():
        saved = dict(np.load(checkpoint))
        nnx.update(model, restore(nnx.state(model), {k[6:]: v for k, v in saved.items() if k.startswith("model:")},
                                  strict=True)[0])
        nnx.update(optimizer, restore(nnx.state(optimizer), {k[4:]: v for k, v in saved.items()
                                                             if k.startswith("opt:")}, strict=True)[0])
        start_epoch, best_map = int(saved["epoch"]), float(saved["best_map"])
        best = {k[5:]: v for k, v in saved.items() if k.startswith("best:")} or None
        log.info("resuming at epoch %d (best mAP so far %.3f)", start_epoch, best_map)
    elif job.base_model_dir is not None and (job.base_model_dir / "weights.npz").exists():
        state, replaced = restore(nnx.state(model, nnx.Param), dict(np.load(job.base_model_dir / "weights.npz")),
                                  strict=False)
        nnx.update(model, state)
        log.info("continuing from the base model (%d weight arrays taken)", replaced)

    rng = np.random.default_rng(hp.seed + start_epoch)
    epoch = start_epoch
    for epoch in range(start_epoch, hp.epochs):
        if reporter.stop_requested:
            log.info("stop requested before epoch %d", epoch)
            break
        order = rng.permutation(len(train.images))
        losses = []
        for step in range(steps_per_epoch):
            images, cls, box, pos = batch(train, order[step * batch_size:(step + 1) * batch_size], hp.resolution,
                                          len(categories), rng)
            losses.append(float(train_step(model, optimizer, jnp.asarray(images), jnp.asarray(cls),
                                           jnp.asarray(box), jnp.asarray(pos))))
        reporter.progress((epoch + 1) / hp.epochs)
        last = epoch + 1 == hp.epochs
        if (epoch + 1) % hp.eval_every == 0 or last or reporter.stop_requested:
            score, predictions = evaluate(model, test, len(categories), hp.resolution, points)
            log.info("epoch %d: loss %.3f, test mAP@0.5 %.3f (%.0f s)", epoch + 1, np.mean(losses), score,
                     time.monotonic() - started)
            if score > best_map:
                best_map, best = score, flat(nnx.state(model, nnx.Param))
                matrix = confusion_matrix(predictions, test.originals, [c.id for c in categories], points=points)
                reporter.metrics(epoch + 1, matrix, map50=round(score, 4))
        else:
            log.info("epoch %d: loss %.3f (%.0f s)", epoch + 1, np.mean(losses), time.monotonic() - started)
        arrays = {f"model:{k}": v for k, v in flat(nnx.state(model)).items()}
        arrays.update({f"opt:{k}": v for k, v in flat(nnx.state(optimizer)).items()})
        arrays.update({f"best:{k}": v for k, v in (best or {}).items()})
        arrays.update({"epoch": np.array(epoch + 1), "best_map": np.array(best_map)})
        _save_arrays(checkpoint, arrays)

    if best is None:  # stopped before the first evaluation
        best_map, _ = evaluate(model, test, len(categories), hp.resolution, points)
        best = flat(nnx.state(model, nnx.Param))
    nnx.update(model, restore(nnx.state(model, nnx.Param), best, strict=True)[0])
    from .export import export_onnx
    export_onnx(model, hp.resolution, job.output_dir / "model.onnx")
    _save_arrays(job.output_dir / "weights.npz", best)
    summary = {"resolution": hp.resolution, "map50": round(best_map, 4), "epochs": epoch + 1,
               "seconds": round(time.monotonic() - started, 1),
               "categories": [c.model_dump(mode="json") for c in categories]}
    (job.output_dir / "summary.json").write_text(json.dumps(summary))
    log.info("training done: best test mAP@0.5 %.3f in %.0f s", best_map, time.monotonic() - started)
    return summary
