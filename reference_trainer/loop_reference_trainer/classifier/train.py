"""Training loop of the reference classifier (runs in the training child process).

As the detector's (..train): 15 % of the training images (by a hash of their id) are held out for validation and
choose the best epoch (validation accuracy and macro-F1 of the weight average; the mean probability of the true
class breaks ties); the Loop's test images are used once, at the end, for the figures reported to the Loop and
written into model.json. Checkpoints after every epoch make a killed training continue where it was; a stop
finishes with the best model so far (or the current one before the first validation); a shutdown keeps the
checkpoint and returns without exporting.
"""

from __future__ import annotations

import json
import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from loop_trainer.logic import Reporter, TrainingError, TrainingJob

from ..devices import Parallel, parallel_for
from ..hyper import Hyper
from ..train import averaged_model, flat, make_optimizer, restore, save_arrays, split_items, take_base
from . import checkpoint
from .data import Images, batch, colour_tells_apart, input_size, load_images, model_input
from .hyper import ClassifierHyper
from .metrics import Figures, figures
from .network import Classifier
from .package import CONF_THRESHOLD

log = logging.getLogger("reference.classifier")

EVAL_BATCH = 16
LABEL_SMOOTHING = 0.1
EMA_DECAY = 0.98     # the evaluated and exported weights average the last ~50 steps (a short run has a few hundred)


def loss_fn(model: Classifier, images: jax.Array, labels: jax.Array) -> jax.Array:
    logits = model(images.astype(jnp.float32) * (1 / 255))
    target = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), LABEL_SMOOTHING)
    loss: jax.Array = optax.softmax_cross_entropy(logits, target).mean()
    return loss


@nnx.jit
def train_step(model: Classifier, optimizer: nnx.Optimizer[Classifier], average: Any, images: jax.Array,
               labels: jax.Array) -> tuple[jax.Array, Any]:
    loss, grads = nnx.value_and_grad(loss_fn)(model, images, labels)
    optimizer.update(model, grads)
    decay = EMA_DECAY * (1.0 - jnp.exp(-optimizer.step.value.astype(jnp.float32) / 20.0))
    average = jax.tree.map(lambda a, v: a * decay + v * (1.0 - decay), average, nnx.state(model))
    return loss, average


@nnx.jit
def predict(model: Classifier, images: jax.Array) -> jax.Array:
    return jax.nn.softmax(model(images), axis=-1)


def classify(model: Classifier, split: Images, height: int, width: int,
             parallel: Parallel | None = None) -> np.ndarray:
    """Class probabilities (images x classes) of `model` on `split`, preprocessed as the detector does."""
    out = np.zeros((len(split), model.classes), np.float32)
    for start in range(0, len(split), EVAL_BATCH):
        chunk = split.images[start:start + EVAL_BATCH]
        tensor = np.zeros((EVAL_BATCH, height, width, 3), np.float32)  # a fixed batch: compiled once
        for k, image in enumerate(chunk):
            tensor[k] = model_input(image, height, width)
        placed = parallel.put_batch(tensor)[0] if parallel and EVAL_BATCH % parallel.devices == 0 \
            else jnp.asarray(tensor)
        out[start:start + len(chunk)] = np.asarray(predict(model, placed))[:len(chunk)]
    return out


def fitness(result: Figures, probs: np.ndarray, labels: np.ndarray) -> float:
    true_probability = float(probs[np.arange(len(labels)), labels].mean()) if len(labels) else 0.0
    return (result.accuracy + result.macro_f1) / 2 + 1e-3 * true_probability


def _figures(prefix: str, result: Figures) -> dict[str, float]:
    return {f"{prefix}_accuracy": round(result.accuracy, 4), f"{prefix}_macro_f1": round(result.macro_f1, 4)}


def run(job: TrainingJob, reporter: Reporter) -> dict[str, Any] | None:
    """Train (or continue); returns the summary written to the output dir, or None after a shutdown request."""
    started = time.monotonic()
    hyper = ClassifierHyper.from_job(job.hyperparameters)
    categories = [c for c in job.categories if c.type == "classification"]
    if len(categories) < 2:
        raise TrainingError("a classification project needs at least 2 classification categories")
    class_of = {c.id: k for k, c in enumerate(categories)} | {c.name: k for k, c in enumerate(categories)}
    train_items, val_items, test_items, separate = split_items(job.image_data())
    train = load_images(train_items, job.images_dir, class_of)
    if not len(train):
        raise TrainingError("the training images have no classification annotations of the project's categories")
    validation = load_images(val_items, job.images_dir, class_of) if separate else train
    if not len(validation):
        validation, separate = train, False
    test = load_images(test_items, job.images_dir, class_of)
    hyper = hyper.fitted(len(train))
    height, width = input_size(train.images, hyper.resolution)
    log.info("%d training, %d validation%s and %d test images, input %dx%d, %s; loaded in %.1f s", len(train),
             len(validation), "" if separate else " (the training images)", len(test), width, height, hyper,
             time.monotonic() - started)

    colour = hyper.colour  # negative: decided from the training images
    if colour < 0:
        tells, accuracy, majority = colour_tells_apart(train)
        colour = 1.0 if tells else 0.0
        log.info("colours alone classify %.2f of the training images (most common class: %.2f): the network %s",
                 accuracy, majority, "sees the colours" if tells else "sees the edge maps only")
    model = Classifier(len(categories), hyper.seed, width=hyper.width, colour=colour)
    steps_per_epoch = max(1, math.ceil(len(train) / hyper.batch_size))
    optimizer = make_optimizer(model, hyper, steps_per_epoch)
    path = job.training_dir / "checkpoint.npz"
    start_epoch, best_fitness, best, best_epoch = 0, -1.0, None, 0
    average = jax.tree.map(jnp.copy, nnx.state(model))
    resumed = checkpoint.resume(path, model, optimizer, average)
    if resumed is not None:
        average, start_epoch, best_fitness, best_epoch, best = resumed
        log.info("resuming at epoch %d (best validation fitness so far %.3f)", start_epoch, best_fitness)
    elif job.base_model_dir is not None and (job.base_model_dir / "weights.npz").exists():
        taken, arrays = take_base(model, job.base_model_dir / "weights.npz")
        average = jax.tree.map(jnp.copy, nnx.state(model))
        log.info("continuing from the base model: %d of %d weight arrays taken", taken, arrays)

    parallel = parallel_for(hyper.batch_size)
    nnx.update(model, parallel.replicate(nnx.state(model)))
    nnx.update(optimizer, parallel.replicate(nnx.state(optimizer)))
    average = parallel.replicate(average)

    rng = np.random.default_rng(hyper.seed + start_epoch)
    ids = [c.id for c in categories]
    done = start_epoch
    with ThreadPoolExecutor(1, thread_name_prefix="batches") as feeder:
        for epoch in range(start_epoch, hyper.epochs):
            if reporter.stop_requested or reporter.shutdown_requested:
                break
            order = rng.permutation(len(train))
            if len(order) < steps_per_epoch * hyper.batch_size:  # every step gets a full batch
                order = np.concatenate([order, rng.integers(0, len(train), steps_per_epoch * hyper.batch_size)])
            seeds = rng.integers(0, 2**31, steps_per_epoch)

            def make(k: int, order: np.ndarray = order, seeds: np.ndarray = seeds) -> tuple[np.ndarray, np.ndarray]:
                return batch(train, order[k * hyper.batch_size:(k + 1) * hyper.batch_size], height, width,
                             np.random.default_rng(seeds[k]), hyper.turned)

            pending: Future[tuple[np.ndarray, np.ndarray]] = feeder.submit(make, 0)
            losses: list[jax.Array] = []
            for k in range(steps_per_epoch):
                if reporter.shutdown_requested:  # the last checkpoint stays; this epoch runs again after the restart
                    break
                images, labels = pending.result()
                if k + 1 < steps_per_epoch:
                    pending = feeder.submit(make, k + 1)
                loss, average = train_step(model, optimizer, average, *parallel.put_batch(images, labels))
                losses.append(loss)
            if reporter.shutdown_requested:
                break
            mean_loss = float(jnp.mean(jnp.stack(losses)))
            if not math.isfinite(mean_loss):
                raise RuntimeError(f"the loss became {mean_loss} in epoch {epoch + 1}")
            report: dict[str, float | int] = {"epoch": epoch + 1, "loss": round(mean_loss, 4)}
            if (epoch + 1) % hyper.eval_every == 0 or epoch + 1 == hyper.epochs or reporter.stop_requested:
                probs = classify(averaged_model(model, average), validation, height, width, parallel)
                result = figures(validation.labels, probs.argmax(axis=1), len(categories))
                report.update(_figures("val", result))
                log.info("epoch %d: loss %.3f, validation accuracy %.3f, macro-F1 %.3f (%.0f s)", epoch + 1,
                         mean_loss, result.accuracy, result.macro_f1, time.monotonic() - started)
                score = fitness(result, probs, validation.labels)
                if score > best_fitness:
                    best_fitness, best, best_epoch = score, flat(average), epoch + 1
                    reporter.metrics(epoch + 1, result.counts(ids), **_figures("val", result),
                                     class_confusion=result.class_confusion([c.name for c in categories]))
            else:
                log.info("epoch %d: loss %.3f (%.0f s)", epoch + 1, mean_loss, time.monotonic() - started)
            reporter.progress((epoch + 1) / hyper.epochs, **report)
            done = epoch + 1
            checkpoint.save(path, model, optimizer, average, best, (done, best_fitness, best_epoch))
    if reporter.shutdown_requested:
        log.info("shutdown requested: checkpoint kept, the training resumes at the next start")
        return None
    if best is None:  # stopped before the first validation: the model as it is
        log.info("stopped before the first validation: exporting the current weights")
        best, best_epoch = flat(average), done
    final = averaged_model(model, restore(average, best, strict=True)[0])
    summary = finish(job, reporter, final, categories, hyper, (height, width), (validation, separate), test,
                     best_epoch)
    summary.update({"epochs": done, "seconds": round(time.monotonic() - started, 1), "colour": colour})
    save_arrays(job.output_dir / "weights.npz", best)
    (job.output_dir / "summary.json").write_text(json.dumps(summary))
    log.info("training done in %.0f s: %s", time.monotonic() - started, json.dumps(summary["figures"]))
    return summary


def finish(job: TrainingJob, reporter: Reporter, model: Classifier, categories: list[Any], hyper: Hyper,
           size: tuple[int, int], validation: tuple[Images, bool], test: Images, best_epoch: int) -> dict[str, Any]:
    """Export the chosen model and measure it once on the test images (or, without them, the validation images)."""
    from .export import export_onnx

    height, width = size
    val_split, separate = validation
    export_onnx(model, height, width, job.output_dir / "model.onnx")
    measured_on = "test" if len(test) else ("validation" if separate else "training")
    split = test if measured_on == "test" else val_split
    if measured_on != "test":
        log.warning("the project has no annotated test images: the figures are measured on the %s images",
                    measured_on)
    result = figures(split.labels, classify(model, split, height, width).argmax(axis=1), len(categories))
    names = [c.name for c in categories]
    confusion = result.class_confusion(names)
    counts = result.counts([c.id for c in categories])
    figures_out = {"measured_on": measured_on, "images": result.images, "accuracy": round(result.accuracy, 4),
                   "macro_f1": round(result.macro_f1, 4), "conf_threshold": CONF_THRESHOLD,
                   "class_confusion": confusion,
                   "per_category": {c.name: counts[c.id] for c in categories}}
    prefix = "test" if measured_on == "test" else "val"
    reporter.metrics(best_epoch, counts, **_figures(prefix, result), class_confusion=confusion,
                     measured_on=measured_on)
    return {"resolution": hyper.resolution, "input_size": [height, width], "accuracy": figures_out["accuracy"],
            "macro_f1": figures_out["macro_f1"], "conf_threshold": CONF_THRESHOLD, "epoch": best_epoch,
            "figures": figures_out, "categories": [c.model_dump(mode="json") for c in categories]}
