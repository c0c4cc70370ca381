"""Data parallelism over the cores of one machine.

XLA's CPU runtime runs a large part of a training step (the fused element-wise work, batch normalisation, the
optimizer) on one thread; only convolutions use its thread pool. Split into one JAX device per core, each device
runs its share of the batch on its own thread, with the weights replicated and the gradients and batch statistics
summed across devices (so the result is the same model as on one device). On a GPU the devices are the GPUs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

log = logging.getLogger("reference.devices")

MAX_CPU_DEVICES = 4   # more devices than this split a batch of 8 too finely to pay


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_cpu() -> None:
    """Make one CPU device per core (up to MAX_CPU_DEVICES). Must run before JAX's first computation; the
    reference TrainerLogic calls it in the training child just before it trains."""
    count = max(1, min(available_cores(), MAX_CPU_DEVICES))
    try:
        jax.config.update("jax_num_cpu_devices", count)  # type: ignore[no-untyped-call]
    except RuntimeError as error:  # JAX already started (an import in a process that computed before)
        log.debug("CPU devices stay as they are: %s", error)


@dataclass(frozen=True)
class Parallel:
    """Where arrays go: batches split over `devices`, everything else replicated on them."""

    devices: int
    batch: NamedSharding
    replicated: NamedSharding

    def put_batch(self, *arrays: np.ndarray) -> list[jax.Array]:
        return [jax.device_put(a, self.batch) for a in arrays]

    def replicate(self, tree: Any) -> Any:
        return jax.device_put(tree, self.replicated)


def parallel_for(batch_size: int) -> Parallel:
    """The most devices (of this process's) that divide `batch_size` evenly."""
    devices = jax.devices()
    count = max(k for k in range(1, len(devices) + 1) if batch_size % k == 0)
    mesh = Mesh(np.array(devices[:count]), ("batch",))
    batch, whole = PartitionSpec("batch"), PartitionSpec()  # type: ignore[no-untyped-call]
    return Parallel(count, NamedSharding(mesh, batch), NamedSharding(mesh, whole))
