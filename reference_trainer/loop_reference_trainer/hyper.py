"""Hyperparameters of the reference trainer: whatever the Loop sends is checked, and clamped with a logged reason.

The Loop passes on what a user typed, so nothing here raises: a value of the wrong type falls back to the
default, a value out of range is clamped, an unknown key is ignored, and each of these is logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Self

log = logging.getLogger("reference.hyper")

# name: (low, high) accepted range
LIMITS: dict[str, tuple[float, float]] = {
    "resolution": (64, 1280), "epochs": (1, 1000), "batch_size": (1, 256), "learning_rate": (1e-6, 1.0),
    "eval_every": (1, 1000), "warmup_epochs": (0, 100), "mosaic": (0.0, 1.0), "turned": (0.0, 1.0),
    "seed": (0, 2**31 - 1), "width": (8, 128), "colour": (-1.0, 1.0), "copy_paste": (0.0, 1.0)}


@dataclass(frozen=True)
class Hyper:
    # names this trainer has but does not use: a job's value is ignored and logged, as an unknown name's is
    UNUSED: ClassVar[tuple[str, ...]] = ()

    resolution: int = 416       # longer side of the model input; the shorter follows the images' aspect ratio
    epochs: int = 56
    batch_size: int = 8
    learning_rate: float = 8e-3
    eval_every: int = 5         # validation every this many epochs (and after the last)
    warmup_epochs: int = 3
    mosaic: float = 0.5         # share of training samples that are mosaics of four images
    turned: float = 0.0         # share of images turned by a quarter, half or three-quarter turn in the samples
    # (for scenes without an up and a down, e.g. a camera looking at the ground; off by default: see README)
    copy_paste: float = 0.5     # share of samples into which segmentation objects of other images are pasted
    # (copy_paste.py; nothing in a project without segmentation categories)
    seed: int = 0
    width: int = 16             # channels of the first stages; the network is 4x as wide at its deepest

    @classmethod
    def from_job(cls, given: dict[str, Any]) -> Self:
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for key, raw in given.items():
            if key not in known or key in cls.UNUSED:
                log.warning("hyperparameter %r is not used by the reference trainer; ignored", key)
                continue
            kind = int if known[key].type in ("int", int) else float
            default = getattr(cls, key)
            try:
                if isinstance(raw, bool) or raw is None:
                    raise ValueError
                value = kind(float(raw)) if kind is int else float(raw)
                if kind is int and float(raw) != value:
                    log.warning("hyperparameter %s=%r is not a whole number; using %d", key, raw, value)
            except (TypeError, ValueError, OverflowError):
                log.warning("hyperparameter %s=%r is not a number; using the default %s", key, raw, default)
                continue
            if value != value:  # NaN
                log.warning("hyperparameter %s=%r is not a number; using the default %s", key, raw, default)
                continue
            low, high = LIMITS[key]
            if not low <= value <= high:
                clamped = kind(min(max(value, low), high))
                log.warning("hyperparameter %s=%r is outside %s..%s; using %s", key, raw, kind(low), kind(high),
                            clamped)
                value = clamped
            values[key] = value
        hyper = cls(**values)
        if hyper.resolution % 32:
            rounded = max(64, round(hyper.resolution / 32) * 32)
            log.warning("resolution %d is not a multiple of 32 (the network's largest stride); using %d",
                        hyper.resolution, rounded)
            hyper = replace(hyper, resolution=rounded)
        if hyper.width % 8:
            rounded = max(8, round(hyper.width / 8) * 8)
            log.warning("width %d is not a multiple of 8; using %d", hyper.width, rounded)
            hyper = replace(hyper, width=rounded)
        return hyper

    def fitted(self, train_images: int) -> Self:
        """Adjusted to the size of the project: a batch no larger than the images, a warm-up shorter than the
        run (optax's schedules need at least one step after the warm-up)."""
        hyper = self
        if train_images and hyper.batch_size > train_images:
            log.warning("batch_size %d is larger than the %d training images; using %d", hyper.batch_size,
                        train_images, train_images)
            hyper = replace(hyper, batch_size=train_images)
        if hyper.warmup_epochs >= hyper.epochs:
            warmup = max(0, hyper.epochs // 4)
            log.warning("warmup_epochs %d leaves no epoch after the warm-up of %d; using %d", hyper.warmup_epochs,
                        hyper.epochs, warmup)
            hyper = replace(hyper, warmup_epochs=warmup)
        return hyper


@dataclass(frozen=True)
class SegmentationHyper(Hyper):
    """The defaults of a project with segmentation categories: a smaller input for more epochs. A step costs what
    its pixels do and the mask head makes it about 1.1 times a box model's, so 56 epochs at 384 x 288 (on 5
    generated projects, 2 cores: 284 to 305 s) take the time that 48 at 416 x 320 took (292 to 315 s), and
    learned more on 4 of the 5 (docs/decisions.md, "A smaller input")."""

    resolution: int = 384
    epochs: int = 56


def job_hyper(given: dict[str, Any], segmentation: bool) -> Hyper:
    """The detector's hyperparameters of a job: a project with segmentation categories has its own defaults."""
    return (SegmentationHyper if segmentation else Hyper).from_job(given)
