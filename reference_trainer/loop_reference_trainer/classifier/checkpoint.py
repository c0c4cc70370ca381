"""Checkpoints of the reference classifier, as the detector keeps them (..train): model, optimizer, weight average,
best weights and figures in one .npz, replaced atomically after every epoch; and a base model's weights."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from loop_shared.model_package import remove_partial_writes

from ..train import _save_arrays, flat, restore

log = logging.getLogger("reference.classifier")

FIGURES = ("epoch", "best_fitness", "best_epoch")


def save(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any,
         best: dict[str, np.ndarray] | None, figures: tuple[int, float, int]) -> None:
    """figures: epochs done, best validation fitness, its epoch."""
    arrays = {f"model:{k}": v for k, v in flat(nnx.state(model)).items()}
    arrays.update({f"opt:{k}": v for k, v in flat(nnx.state(optimizer)).items()})
    arrays.update({f"avg:{k}": v for k, v in flat(average).items()})
    arrays.update({f"best:{k}": v for k, v in (best or {}).items()})
    arrays.update({name: np.array(value) for name, value in zip(FIGURES, figures, strict=True)})
    _save_arrays(path, arrays)


def resume(path: Path, model: nnx.Module, optimizer: nnx.Optimizer[Any], average: Any
           ) -> tuple[Any, int, float, int, dict[str, np.ndarray] | None] | None:
    """Load the checkpoint into `model` and `optimizer`; returns (average, epoch, best fitness, best epoch, best
    weights), or None without a checkpoint or with one that does not fit (the training starts over)."""
    remove_partial_writes(path.parent, path.name)
    if not path.exists():
        return None
    try:
        saved = dict(np.load(path))

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}

        model_state = restore(nnx.state(model), part("model:"), strict=True)[0]
        optimizer_state = restore(nnx.state(optimizer), part("opt:"), strict=True)[0]
        average = restore(average, part("avg:"), strict=True)[0]
        epoch, fitness, best_epoch = int(saved["epoch"]), float(saved["best_fitness"]), int(saved["best_epoch"])
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        log.warning("the checkpoint does not fit this network (%s); the training starts over", error)
        return None
    nnx.update(model, model_state)
    nnx.update(optimizer, optimizer_state)
    return average, epoch, fitness, best_epoch, part("best:") or None


def take_base(model: nnx.Module, weights: Path) -> tuple[int, int]:
    """Load the weights of a base model that fit `model` (same name and shape); returns (taken, all arrays)."""
    state, replaced = restore(nnx.state(model), dict(np.load(weights)), strict=False)
    nnx.update(model, state)
    return replaced, len(jax.tree_util.tree_leaves(state))
