"""Training loop of the reference detector (runs in the training child process).

The training images are split once into training and validation images by a hash of their id
(`VALIDATION_FRACTION`); the validation images choose the best epoch and the confidence threshold, the Loop's
test images are looked at only once, at the end, to report how good the chosen model is. Without test images
the reported figures are the validation figures, labelled as such.

Checkpoints after every epoch (model, optimizer, weight average, best weights, epoch) make a killed training
continue where it was; weights of a base model continue from there. A stop finishes with the best model so far
(or the current one when no validation has happened yet); a shutdown saves the checkpoint and returns at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from loop_shared.imaging import Letterbox
from loop_shared.mask_metrics import MaskInstance
from loop_shared.model_package import remove_partial_writes
from loop_trainer.logic import Reporter, TrainingError, TrainingJob

from .data import Split, batch, input_size, letterbox, load_split, validation_share
from .devices import Parallel, parallel_for
from .evaluate import (
    NMS_IOU,
    Evaluation,
    Prediction,
    best_threshold,
    confusion_matrix,
    evaluate,
    select_cells,
    to_original,
)
from .hyper import Hyper, job_hyper
from .masks import MASK_EVAL_CONF, MASK_WEIGHT, MAX_MASK_DETECTIONS, mask_figures, mask_loss, predicted_mask, true_masks
from .network import PROTOS, Detector, cell_centres, decode, distances

log = logging.getLogger("reference.train")
Network = TypeVar("Network", bound=nnx.Module)

VALIDATION_FRACTION = 0.15
EVAL_BATCH = 16
EVAL_CONF = 0.01          # detections kept for computing average precision
EMA_DECAY = 0.99          # the evaluated and exported weights are an exponential average over the steps
# of the class loss in a model with segmentation categories, beside the box loss's 2 (a box model's: 1). On the
# hard bench projects a found blob box labelled a square, and blob scores on distractors, were the main error
SEGMENTATION_CLASS_WEIGHT = 2.0
LAST_PLAIN_EPOCHS = 0.15  # the last share of the epochs trains on single images as they are (no mosaics, nothing
# pasted)


def _iou_terms(pred: jax.Array, true: jax.Array) -> tuple[jax.Array, jax.Array]:
    """IoU and generalised IoU of boxes (..., 4 as x1, y1, x2, y2)."""
    ix = jnp.clip(jnp.minimum(pred[..., 2], true[..., 2]) - jnp.maximum(pred[..., 0], true[..., 0]), 0)
    iy = jnp.clip(jnp.minimum(pred[..., 3], true[..., 3]) - jnp.maximum(pred[..., 1], true[..., 1]), 0)
    inter = ix * iy
    area_p = (pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
    area_t = (true[..., 2] - true[..., 0]) * (true[..., 3] - true[..., 1])
    union = area_p + area_t - inter + 1e-6
    iou = inter / union
    hull = (jnp.maximum(pred[..., 2], true[..., 2]) - jnp.minimum(pred[..., 0], true[..., 0])) * \
        (jnp.maximum(pred[..., 3], true[..., 3]) - jnp.minimum(pred[..., 1], true[..., 1])) + 1e-6
    return iou, iou - (hull - union) / hull


def loss_fn(model: Detector, images: jax.Array, true_box: jax.Array, true_cls: jax.Array,
            share: jax.Array, masks: tuple[jax.Array, ...] | None = None) -> jax.Array:
    """Varifocal loss on the class scores (the target of a cell that learns an object is the square root of the
    IoU of its box with the object) plus generalised-IoU loss on the boxes of those cells. The square root keeps
    the order of the boxes but lifts the scores of small objects, whose boxes rarely fit much better than IoU 0.75
    (one pixel off in x and y on a 14 px box), above the clutter they otherwise rank below. `images` are uint8
    (a quarter of the bytes to move); `share` is each cell's share of its object (data.targets). A segmentation
    model weighs the class loss SEGMENTATION_CLASS_WEIGHT and adds the mask loss (masks.mask_loss) of the mask
    targets `masks` (data.mask_targets)."""
    x = images.astype(jnp.float32) * (1 / 255)
    raw, protos = model.segment(x, detach=True) if masks is not None else (model(x), None)
    n, h, w, _ = raw.shape
    c = 4 + model.classes
    raw = raw.reshape(n, h * w, -1)
    coefs, raw = raw[..., c:], raw[..., :c]
    cx, cy = cell_centres(h, w, raw.dtype)
    d = distances(raw[..., :4])
    pred = jnp.stack([cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]], axis=-1)
    positive = (true_cls >= 0).astype(raw.dtype)
    count = jnp.maximum(positive.sum(), 1.0)
    # every object weighs the same, however many cells learn it (a large object has up to 25 cells, a small one
    # 1 to 4: weighed per cell, the small objects hardly counted); the total stays that of the positive cells
    cell_weight = share * (count / jnp.maximum(share.sum(), 1.0))
    iou, giou = _iou_terms(pred, true_box)
    quality = jax.lax.stop_gradient(jnp.sqrt(jnp.clip(iou, 0.0, 1.0))) * positive
    target = jax.nn.one_hot(true_cls, c - 4, dtype=raw.dtype) * quality[..., None]
    logits = raw[..., 4:]
    scores = jax.lax.stop_gradient(jax.nn.sigmoid(logits))
    # varifocal: a cell that learns an object is weighted by its box's quality; the many empty cells are
    # down-weighted by how sure they already are; the other classes of a cell that learns an object keep their
    # full weight (telling a square from a triangle is the hard part, not telling either from the background)
    weight = jnp.where(target > 0, target, jnp.where(positive[..., None] > 0, 1.0, 0.75 * jnp.square(scores)))
    weight = jnp.where(positive[..., None] > 0, weight * cell_weight[..., None], weight)
    cls_loss = (optax.sigmoid_binary_cross_entropy(logits, target) * weight).sum() / count
    box_loss = ((1.0 - giou) * cell_weight).sum() / count
    total: jax.Array = (SEGMENTATION_CLASS_WEIGHT if model.masks else 1.0) * cls_loss + 2.0 * box_loss
    if masks is not None and protos is not None:
        total = total + MASK_WEIGHT * mask_loss(coefs, protos, *masks)
    return total


@nnx.jit
def train_step(model: Detector, optimizer: nnx.Optimizer[Detector], average: Any,
               images: jax.Array, true_box: jax.Array, true_cls: jax.Array, share: jax.Array,
               masks: tuple[jax.Array, ...] | None = None) -> tuple[jax.Array, Any]:
    loss, grads = nnx.value_and_grad(loss_fn)(model, images, true_box, true_cls, share, masks)
    optimizer.update(model, grads)
    # the average's decay ramps up over the first steps, counted by the optimizer (so it also continues right
    # after a resumed checkpoint, whose optimizer state holds the step count)
    decay = EMA_DECAY * (1.0 - jnp.exp(-optimizer.step.value.astype(jnp.float32) / 50.0))
    average = jax.tree.map(lambda a, v: a * decay + v * (1.0 - decay), average, nnx.state(model))
    return loss, average


@nnx.jit
def predict(model: Detector, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return decode(model(images))


@nnx.jit
def predict_segment(model: Detector, images: jax.Array) -> tuple[jax.Array, ...]:
    """Boxes and scores as `predict`, the mask coefficients (N x cells x M) and the prototypes (N x M x h x w)."""
    raw, protos = model.segment(images)
    boxes, scores = decode(raw, model.classes)
    n, h, w = raw.shape[:3]
    return boxes, scores, raw[..., 4 + model.classes:].reshape(n, h * w, -1), jnp.transpose(protos, (0, 3, 1, 2))


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` as an .npz at `path`, written to a hidden sibling, flushed to the disk and renamed into place: a
    kill or a power cut leaves the last whole file (checkpoints, the uploaded weights)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def averaged_model(model: Network, average: Any) -> Network:
    """A copy of `model` (the detector or the classifier) with the averaged weights, in inference mode."""
    graphdef, _ = nnx.split(model)
    copy: Network = nnx.merge(graphdef, average)
    copy.eval()  # type: ignore[no-untyped-call]
    return copy


def detect_split(model: Detector, split: Split, height: int, width: int,
                 parallel: Parallel | None = None) -> list[list[Prediction]]:
    """Detections (original pixels) of `model` on every image of `split`, preprocessed as the detector does."""
    return detect_masks(model, split, height, width, parallel)[0]


def detect_masks(model: Detector, split: Split, height: int, width: int, parallel: Parallel | None = None,
                 segmentation: frozenset[int] = frozenset()
                 ) -> tuple[list[list[Prediction]], list[list[MaskInstance]]]:
    """`detect_split`, and per image the masks of the best detections of the `segmentation` classes (a
    segmentation model only; empty lists otherwise)."""
    predictions: list[list[Prediction]] = []
    masks: list[list[MaskInstance]] = []
    for start in range(0, len(split), EVAL_BATCH):
        chunk = split.images[start:start + EVAL_BATCH]
        boxed = [letterbox(image, height, width) for image in chunk]
        tensor = np.zeros((EVAL_BATCH, height, width, 3), np.float32)  # a fixed batch: compiled once
        for k, (canvas, *_) in enumerate(boxed):
            tensor[k] = canvas.astype(np.float32) / 255.0
        placed = parallel.put_batch(tensor)[0] if parallel and EVAL_BATCH % parallel.devices == 0 \
            else jnp.asarray(tensor)
        outputs = predict_segment(model, placed) if model.masks else predict(model, placed)
        boxes, scores, *mask_parts = (np.asarray(a) for a in outputs)
        for k, (image, (_, scale, px, py)) in enumerate(zip(chunk, boxed, strict=True)):
            preds: list[Prediction] = []
            instances: list[MaskInstance] = []
            for cell, xyxy, cls, score in select_cells(boxes[k], scores[k], conf=EVAL_CONF, iou=NMS_IOU):
                original = to_original(xyxy, scale, px, py, image.shape[1], image.shape[0])
                x1, y1, x2, y2 = original
                preds.append((float(x1), float(y1), float(x2), float(y2), cls, score))
                if mask_parts and cls in segmentation and score >= MASK_EVAL_CONF and \
                        len(instances) < MAX_MASK_DETECTIONS:
                    coefs, protos = mask_parts
                    mask = predicted_mask(coefs[k, cell], protos[k], xyxy, (width, height),
                                          Letterbox(scale, scale, px, py), original, image.shape[:2])
                    if mask is not None:
                        instances.append(MaskInstance(cls, score, mask))
            predictions.append(preds)
            masks.append(instances)
    return predictions, masks


DETECTOR_FIGURES: dict[str, type] = {"epoch": int, "best_fitness": float, "threshold": float, "best_epoch": int}


def write_checkpoint(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any,
                     best: dict[str, np.ndarray] | None, figures: dict[str, float]) -> None:
    """Everything a killed training needs to continue, atomically replaced: weights, optimizer, weight average,
    best weights and the named figures (the detector's and the classifier's)."""
    arrays = {f"model:{k}": v for k, v in flat(nnx.state(model)).items()}
    arrays.update({f"opt:{k}": v for k, v in flat(nnx.state(optimizer)).items()})
    arrays.update({f"avg:{k}": v for k, v in flat(average).items()})
    arrays.update({f"best:{k}": v for k, v in (best or {}).items()})
    arrays.update({name: np.array(value) for name, value in figures.items()})
    save_arrays(path, arrays)


def read_checkpoint(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any,
                    figures: dict[str, type]) -> tuple[Any, tuple[Any, ...], dict[str, np.ndarray] | None] | None:
    """Load the checkpoint into `model` and `optimizer`; returns (average, the named figures converted by their
    types, best weights), or None without a checkpoint or with one that does not fit this network (written by
    another version of the trainer or with another `width`: the training starts over, it does not crash)."""
    remove_partial_writes(path.parent, path.name)  # saves a kill interrupted
    if not path.exists():
        return None
    try:
        saved = dict(np.load(path))

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}

        model_state = restore(nnx.state(model), part("model:"), strict=True)[0]
        optimizer_state = restore(nnx.state(optimizer), part("opt:"), strict=True)[0]
        average = restore(average, part("avg:"), strict=True)[0]
        values = tuple(kind(saved[name]) for name, kind in figures.items())
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        log.warning("the checkpoint does not fit this network (%s); the training starts over", error)
        return None
    nnx.update(model, model_state)
    nnx.update(optimizer, optimizer_state)
    return average, values, part("best:") or None


def save_checkpoint(path: Path, model: Detector, optimizer: nnx.Optimizer[Detector], average: Any,
                    best: dict[str, np.ndarray] | None, figures: tuple[int, float, float, int]) -> None:
    """The detector's checkpoint; figures: epochs done, best validation fitness, its threshold and its epoch."""
    write_checkpoint(path, model, optimizer, average, best, dict(zip(DETECTOR_FIGURES, figures, strict=True)))


def resume(checkpoint: Path, model: Detector, optimizer: nnx.Optimizer[Detector], average: Any
           ) -> tuple[Any, int, float, float, int, dict[str, np.ndarray] | None] | None:
    """The detector's checkpoint (read_checkpoint); returns (average, epoch, best fitness, threshold, best epoch,
    best weights), or None."""
    resumed = read_checkpoint(checkpoint, model, optimizer, average, DETECTOR_FIGURES)
    if resumed is None:
        return None
    average, figures, best = resumed
    return (average, *figures, best)


def make_optimizer(model: Network, hyper: Hyper, steps_per_epoch: int) -> nnx.Optimizer[Network]:
    """AdamW (weight decay 5e-4) on gradients clipped to a global norm of 10, its learning rate warmed up from 5 %
    over `hyper.warmup_epochs`, then cosine down to 2 % of `hyper.learning_rate` at the last step: the detector's and
    the classifier's one schedule."""
    total = steps_per_epoch * hyper.epochs
    warmup = min(steps_per_epoch * hyper.warmup_epochs, total - 1)
    schedule = optax.warmup_cosine_decay_schedule(hyper.learning_rate * 0.05, hyper.learning_rate, warmup, total,
                                                  hyper.learning_rate * 0.02)
    return nnx.Optimizer(model, optax.chain(optax.clip_by_global_norm(10.0),
                                            optax.adamw(schedule, weight_decay=5e-4)), wrt=nnx.Param)


def take_base(model: nnx.Module, weights: Path) -> tuple[int, int]:
    """Load the weights of a base model that fit `model` (same name and shape); returns (weight arrays taken,
    weight arrays of the network)."""
    state, replaced = restore(nnx.state(model), dict(np.load(weights)), strict=False)
    nnx.update(model, state)
    return replaced, len(jax.tree_util.tree_leaves(state))


def split_items(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                      list[dict[str, Any]], bool]:
    """(train, validation, test, validation is separate): validation images are taken from the Loop's training
    images by a hash of their id; a project with fewer than 4 training images validates on its training images."""
    learn = [i for i in items if i.get("set") in ("train", "val")]
    test = [i for i in items if i.get("set") == "test"]
    if len(learn) < 4:
        return learn, learn, test, False
    validation = [i for i in learn if validation_share(str(i["id"])) < VALIDATION_FRACTION]
    if not validation:  # a small project whose hashes all missed: take the lowest one
        validation = [min(learn, key=lambda i: validation_share(str(i["id"])))]
    chosen = {id(i) for i in validation}
    return [i for i in learn if id(i) not in chosen], validation, test, True


def _figures(prefix: str, e: Evaluation, masks: tuple[float, float] | None = None) -> dict[str, float]:
    figures = {f"{prefix}_map50": round(e.map50, 4), f"{prefix}_map50_95": round(e.map50_95, 4)}
    if masks is not None:
        figures.update({f"{prefix}_mask_map50": round(masks[0], 4), f"{prefix}_mask_map50_95": round(masks[1], 4)})
    return figures


def run(job: TrainingJob, reporter: Reporter) -> dict[str, Any] | None:
    """Train (or continue); returns the summary written to the output dir, or None after a shutdown request."""
    started = time.monotonic()
    categories = [c for c in job.categories if c.type in (None, "box", "point", "segmentation")]
    if not categories:
        raise TrainingError("the project has no box, point or segmentation categories; the reference detector "
                            "learns only those")
    class_of = {c.id: k for k, c in enumerate(categories)}
    points = frozenset(k for k, c in enumerate(categories) if c.type == "point")
    segmentation = frozenset(k for k, c in enumerate(categories) if c.type == "segmentation")
    seg = bool(segmentation)
    hyper = job_hyper(job.hyperparameters, seg)
    train_items, val_items, test_items, separate = split_items(job.image_data())
    if not train_items:
        raise TrainingError("the project has no training images (every annotated image is in the test set)")
    train = load_split(train_items, job.images_dir, class_of, seg)
    validation = load_split(val_items, job.images_dir, class_of, seg) if separate else train
    test = load_split(test_items, job.images_dir, class_of, seg)
    if train.objects == 0:
        raise TrainingError("the training images have no box, point or segmentation annotations of the project's "
                            "categories")
    hyper = hyper.fitted(len(train))
    height, width = input_size([train], hyper.resolution)
    log.info("%d training, %d validation%s and %d test images (%d, %d and %d objects), input %dx%d, %s; "
             "loaded in %.1f s", len(train), len(validation), "" if separate else " (the training images)",
             len(test), train.objects, validation.objects, test.objects, width, height, hyper,
             time.monotonic() - started)

    model = Detector(len(categories), hyper.seed, width=hyper.width, masks=PROTOS if seg else 0)
    steps_per_epoch = max(1, math.ceil(len(train) / hyper.batch_size))
    optimizer = make_optimizer(model, hyper, steps_per_epoch)

    checkpoint = job.training_dir / "checkpoint.npz"
    start_epoch, best_fitness, best, threshold, best_epoch = 0, -1.0, None, 0.25, 0
    average = jax.tree.map(jnp.copy, nnx.state(model))
    resumed = resume(checkpoint, model, optimizer, average)
    if resumed is not None:
        average, start_epoch, best_fitness, threshold, best_epoch, best = resumed
        log.info("resuming at epoch %d (best validation fitness so far %.3f)", start_epoch, best_fitness)
    elif job.base_model_dir is not None and (job.base_model_dir / "weights.npz").exists():
        replaced, arrays = take_base(model, job.base_model_dir / "weights.npz")
        average = jax.tree.map(jnp.copy, nnx.state(model))
        if replaced < arrays:  # a base model of another trainer version or width: the rest starts afresh
            log.warning("the base model fits this network only in part: %d of %d weight arrays taken, the others "
                        "start from scratch", replaced, arrays)
        else:
            log.info("continuing from the base model (all %d weight arrays taken)", replaced)

    parallel = parallel_for(hyper.batch_size)
    nnx.update(model, parallel.replicate(nnx.state(model)))
    nnx.update(optimizer, parallel.replicate(nnx.state(optimizer)))
    average = parallel.replicate(average)
    if parallel.devices > 1:
        log.info("each batch is split over %d devices", parallel.devices)

    rng = np.random.default_rng(hyper.seed + start_epoch)
    plain_from = hyper.epochs - max(1, round(hyper.epochs * LAST_PLAIN_EPOCHS))
    epoch = done = start_epoch
    with ThreadPoolExecutor(1, thread_name_prefix="batches") as feeder:
        for epoch in range(start_epoch, hyper.epochs):
            if reporter.stop_requested or reporter.shutdown_requested:
                break
            order = rng.permutation(len(train))
            if len(order) < steps_per_epoch * hyper.batch_size:  # every step gets a full batch
                order = np.concatenate([order, rng.integers(0, len(train), steps_per_epoch * hyper.batch_size)])
            mosaic = hyper.mosaic if epoch < plain_from else 0.0
            pasted = hyper.copy_paste if epoch < plain_from else 0.0
            seeds = rng.integers(0, 2**31, steps_per_epoch)

            def make(k: int, order: np.ndarray = order, seeds: np.ndarray = seeds, mosaic: float = mosaic,
                     pasted: float = pasted) -> tuple[np.ndarray, ...]:
                return batch(train, order[k * hyper.batch_size:(k + 1) * hyper.batch_size], height, width,
                             np.random.default_rng(seeds[k]), mosaic, hyper.turned, seg, pasted)

            pending: Future[tuple[np.ndarray, ...]] = feeder.submit(make, 0)
            losses: list[jax.Array] = []  # read once per epoch: a read per step would idle the devices meanwhile
            for k in range(steps_per_epoch):
                if reporter.shutdown_requested:  # the last checkpoint stays; this epoch runs again after the restart
                    break
                placed = parallel.put_batch(*pending.result())
                if k + 1 < steps_per_epoch:
                    pending = feeder.submit(make, k + 1)
                images, boxes, classes, shares = placed[:4]
                loss, average = train_step(model, optimizer, average, images, boxes, classes, shares,
                                           tuple(placed[4:]) if seg else None)
                losses.append(loss)
            if reporter.shutdown_requested:
                break
            mean_loss = float(jnp.mean(jnp.stack(losses)))
            if not math.isfinite(mean_loss):
                raise RuntimeError(f"the loss became {mean_loss} in epoch {epoch + 1}")
            figures: dict[str, float | int] = {"epoch": epoch + 1, "loss": round(mean_loss, 4)}
            last = epoch + 1 == hyper.epochs
            if ((epoch + 1) % hyper.eval_every == 0 or last or reporter.stop_requested) \
                    and not reporter.shutdown_requested:
                evaluated = averaged_model(model, average)
                predictions, found = detect_masks(evaluated, validation, height, width, parallel, segmentation)
                result = evaluate(predictions, validation.truths(), len(categories), threshold, points)
                mask_result = mask_figures(true_masks(validation, segmentation), found, len(categories)) \
                    if seg else None
                figures.update(_figures("val", result, mask_result))
                log.info("epoch %d: loss %.3f, validation mAP@0.5 %.3f, mAP@0.5:0.95 %.3f%s (%.0f s)", epoch + 1,
                         mean_loss, result.map50, result.map50_95,
                         f", mask mAP@0.5 {mask_result[0]:.3f}, mask mAP@0.5:0.95 {mask_result[1]:.3f}"
                         if mask_result else "", time.monotonic() - started)
                # the best epoch: boxes (and masks, which matter most where there are any) loose and strict
                fitness = (result.fitness + sum(mask_result) / 2) / 2 if mask_result else result.fitness
                if fitness > best_fitness:
                    best_fitness, best, best_epoch = fitness, flat(average), epoch + 1
                    threshold = best_threshold(predictions, validation.truths(), len(categories), points)
                    matrix = confusion_matrix(predictions, validation.truths(), [c.id for c in categories],
                                              threshold, points)
                    reporter.metrics(epoch + 1, matrix, **_figures("val", result, mask_result))
            else:
                log.info("epoch %d: loss %.3f (%.0f s)", epoch + 1, mean_loss, time.monotonic() - started)
            reporter.progress((epoch + 1) / hyper.epochs, **figures)
            done = epoch + 1
            save_checkpoint(checkpoint, model, optimizer, average, best,
                            (epoch + 1, best_fitness, threshold, best_epoch))
    if reporter.shutdown_requested:
        log.info("shutdown requested: checkpoint kept, the training resumes at the next start")
        return None

    if best is None:  # stopped before the first validation: the model as it is
        log.info("stopped before the first validation: exporting the current weights")
        best, best_epoch = flat(average), done
    final = averaged_model(model, restore(average, best, strict=True)[0])
    summary = finish(job, reporter, final, categories, hyper, (height, width), (validation, separate), test,
                     threshold, (points, segmentation), best_epoch)
    summary.update({"epochs": done, "seconds": round(time.monotonic() - started, 1)})
    save_arrays(job.output_dir / "weights.npz", best)
    (job.output_dir / "summary.json").write_text(json.dumps(summary))
    log.info("training done in %.0f s: %s", time.monotonic() - started, json.dumps(summary["figures"]))
    return summary


def finish(job: TrainingJob, reporter: Reporter, model: Detector, categories: list[Any], hyper: Hyper,
           size: tuple[int, int], validation: tuple[Split, bool], test: Split, threshold: float,
           kinds: tuple[frozenset[int], frozenset[int]], best_epoch: int) -> dict[str, Any]:
    """Export the chosen model and measure it once on the test images (or, without them, the validation images);
    `kinds` are the point classes and the segmentation classes."""
    from .export import export_onnx

    points, segmentation = kinds
    height, width = size
    val_split, separate = validation
    export_onnx(model, height, width, job.output_dir / "model.onnx")
    measured_on = "test" if len(test) and test.objects else ("validation" if separate else "training")
    split = test if measured_on == "test" else val_split
    predictions, found = detect_masks(model, split, height, width, segmentation=segmentation)
    result = evaluate(predictions, split.truths(), len(categories), threshold, points)
    mask_result = mask_figures(true_masks(split, segmentation), found, len(categories)) if segmentation else None
    if measured_on != "test":
        log.warning("the project has no annotated test images: the figures are measured on the %s images",
                    measured_on)
    figures = {"measured_on": measured_on, "images": result.images, "objects": result.objects,
               "map50": round(result.map50, 4), "map50_95": round(result.map50_95, 4),
               "precision": round(result.precision, 4), "recall": round(result.recall, 4),
               "conf_threshold": threshold,
               "per_category": {categories[k].name: {"ap50": round(v, 4), "ap50_95": round(result.ap50_95[k], 4)}
                                for k, v in result.ap50.items()}}
    if mask_result is not None:
        figures.update({"mask_map50": round(mask_result[0], 4), "mask_map50_95": round(mask_result[1], 4)})
    prefix = "test" if measured_on == "test" else "val"
    matrix = confusion_matrix(predictions, split.truths(), [c.id for c in categories], threshold, points)
    reporter.metrics(best_epoch, matrix, **_figures(prefix, result, mask_result), measured_on=measured_on)
    summary: dict[str, Any] = {
        "resolution": hyper.resolution, "input_size": [height, width], "map50": figures["map50"],
        "map50_95": figures["map50_95"], "conf_threshold": threshold, "iou_threshold": NMS_IOU,
        "epoch": best_epoch, "figures": figures, "categories": [c.model_dump(mode="json") for c in categories]}
    if mask_result is not None:
        summary.update({"output_layout": "ultralytics_segment", "mask_map50": figures["mask_map50"],
                        "mask_map50_95": figures["mask_map50_95"]})
    return summary
