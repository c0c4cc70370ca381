"""A training's checkpoint: what is saved comes back, and one that does not fit the network starts the training over
instead of failing it (a trainer upgraded mid-training, another `width`, a damaged file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optax
import pytest
from flax import nnx

from loop_reference_trainer import train
from loop_reference_trainer.network import Detector
from loop_reference_trainer.train import flat, resume, save_checkpoint, take_base


def _network(width: int, seed: int) -> tuple[Detector, nnx.Optimizer[Detector]]:
    model = Detector(2, seed, width=width)
    return model, nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)


def test_a_checkpoint_comes_back(tmp_path: Path) -> None:
    model, optimizer = _network(8, 0)
    best = flat(nnx.state(model))
    save_checkpoint(tmp_path / "c.npz", model, optimizer, nnx.state(model), best, (7, 0.42, 0.35, 4))
    fresh, fresh_optimizer = _network(8, 1)
    assert not np.allclose(flat(nnx.state(fresh))["['stem']['conv']['kernel'].value"],
                           best["['stem']['conv']['kernel'].value"])
    resumed = resume(tmp_path / "c.npz", fresh, fresh_optimizer, nnx.state(fresh))
    assert resumed is not None
    average, epoch, fitness, threshold, best_epoch, saved_best = resumed
    assert (epoch, best_epoch) == (7, 4) and fitness == np.float32(0.42) and threshold == np.float32(0.35)
    assert saved_best is not None and saved_best.keys() == best.keys()
    for name, value in flat(nnx.state(fresh)).items():
        np.testing.assert_array_equal(value, best[name])
    for name, value in flat(average).items():
        np.testing.assert_array_equal(value, best[name])


def test_a_checkpoint_of_another_network_starts_over(tmp_path: Path) -> None:
    model, optimizer = _network(8, 0)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, nnx.state(model), None, (3, 0.1, 0.25, 0))
    wider, wider_optimizer = _network(16, 1)
    before = flat(nnx.state(wider))
    assert resume(tmp_path / "c.npz", wider, wider_optimizer, nnx.state(wider)) is None
    for name, value in flat(nnx.state(wider)).items():  # untouched
        np.testing.assert_array_equal(value, before[name])


def test_a_damaged_checkpoint_starts_over(tmp_path: Path) -> None:
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not really a zip")
    model, optimizer = _network(8, 0)
    assert resume(tmp_path / "c.npz", model, optimizer, nnx.state(model)) is None
    assert resume(tmp_path / "missing.npz", model, optimizer, nnx.state(model)) is None


def test_a_base_model_is_taken_whole_or_in_part(tmp_path: Path) -> None:
    base, _ = _network(16, 1)
    np.savez(tmp_path / "weights.npz", **flat(nnx.state(base)))  # type: ignore[arg-type]
    same, _ = _network(16, 2)
    taken, total = take_base(same, tmp_path / "weights.npz")
    assert taken == total > 0
    assert np.array_equal(np.asarray(same.stem.conv.kernel[...]), np.asarray(base.stem.conv.kernel[...]))
    wider, _ = _network(24, 2)
    untouched = np.asarray(wider.stem.conv.kernel[...]).copy()
    taken, total = take_base(wider, tmp_path / "weights.npz")
    assert 0 < taken < total  # the output biases fit, the convolutions of another width do not
    assert np.array_equal(np.asarray(wider.stem.conv.kernel[...]), untouched)


KILLED_SAVE = """
import os, signal, sys
from pathlib import Path
import numpy as np
from loop_reference_trainer import train
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
train.save_arrays(Path(sys.argv[1]), {"x": np.zeros(1000, np.float32)})
"""


def test_a_checkpoint_save_killed_halfway_leaves_the_last_one_and_its_leftover_goes_at_resume(tmp_path: Path) -> None:
    model, optimizer = _network(8, 0)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, nnx.state(model), None, (5, 0.3, 0.25, 5))
    result = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(tmp_path / "c.npz")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == -9, result.stderr
    [leftover] = list(tmp_path.glob(".c.npz.*"))
    fresh, fresh_optimizer = _network(8, 1)
    resumed = resume(tmp_path / "c.npz", fresh, fresh_optimizer, nnx.state(fresh))
    assert resumed is not None and resumed[1] == 5
    assert not leftover.exists()


def test_arrays_are_flushed_to_the_disk_before_they_are_renamed_into_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", Path(target).name, os.fstat(fd).st_size))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", Path(src).name, os.stat(src).st_size))
        real_replace(src, dst)

    monkeypatch.setattr(train.os, "fsync", fsync)
    monkeypatch.setattr(train.os, "replace", replace)
    train.save_arrays(tmp_path / "w.npz", {"x": np.arange(1000, dtype=np.float32)})
    assert [e[0] for e in events] == ["fsync", "replace"]
    (_, synced, synced_size), (_, renamed, renamed_size) = events
    assert synced == renamed and synced.startswith(".w.npz.")  # the hidden sibling, whole when flushed
    assert synced_size == renamed_size == (tmp_path / "w.npz").stat().st_size > 4000
    assert np.array_equal(np.load(tmp_path / "w.npz")["x"], np.arange(1000, dtype=np.float32))
