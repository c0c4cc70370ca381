"""Checkpoints of the reference classifier, kept as the detector's are (..train.write_checkpoint): model,
optimizer, weight average, best weights and figures in one .npz, replaced atomically after every epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from flax import nnx

from ..train import read_checkpoint, write_checkpoint

FIGURES: dict[str, type] = {"epoch": int, "best_fitness": float, "best_epoch": int}


def save(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any,
         best: dict[str, np.ndarray] | None, figures: tuple[int, float, int]) -> None:
    """figures: epochs done, best validation fitness, its epoch."""
    write_checkpoint(path, model, optimizer, average, best, dict(zip(FIGURES, figures, strict=True)))


def resume(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any
           ) -> tuple[Any, int, float, int, dict[str, np.ndarray] | None] | None:
    """Load the checkpoint into `model` and `optimizer`; returns (average, epoch, best fitness, best epoch, best
    weights), or None without a checkpoint or with one that does not fit (the training starts over)."""
    resumed = read_checkpoint(path, model, optimizer, average, FIGURES)
    if resumed is None:
        return None
    average, (epoch, fitness, best_epoch), best = resumed
    return average, epoch, fitness, best_epoch, best
