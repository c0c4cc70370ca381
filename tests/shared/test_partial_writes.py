"""A process killed in the middle of an atomic write leaves a hidden temporary file beside the target; whoever owns
that file deletes such leftovers when it starts, so kills do not pile files up in the data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_converter.records import Records
from loop_detector.metrics import DetectorMetrics
from loop_detector.model_cache import ModelCache
from loop_detector.outbox_store import OutboxStore
from loop_detector.quotas import QuotaBook
from loop_shared.identity import node_uuid
from loop_shared.model_package import SHARED_VOLUME_GRACE, remove_partial_writes
from loop_testkit.processes import Service
from loop_trainer.downloader import Downloader
from loop_trainer.history import TrainingHistory
from loop_trainer.record import TrainingRecord
from tests.e2e.test_detector_process import start_detector

# writes `data` to the target as the nodes do, but the process is killed (SIGKILL) just before the rename
KILLED_WRITE = """
import json, os, signal, sys
from pathlib import Path
from loop_shared import model_package
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
model_package.write_json_atomic(Path(sys.argv[1]), json.loads(sys.argv[2]))
"""


def killed_write(target: Path, data: Any = None) -> Path:
    """Write `target` in a process that is killed before the rename; returns the leftover it made."""
    before = set(target.parent.glob(".*")) if target.parent.exists() else set()
    result = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target), json.dumps(data or {"n": 1})],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    [leftover] = set(target.parent.glob(".*")) - before
    assert leftover.name.startswith(f".{target.name}.")
    return leftover


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*"))


def test_a_killed_write_leaves_the_old_file_whole_and_the_sweep_takes_only_leftovers(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"old": true}')
    first, second = killed_write(tmp_path / "a.json", {"new": 1}), killed_write(tmp_path / "a.json", {"new": 2})
    other = killed_write(tmp_path / "b.json")
    (tmp_path / ".keep").write_text("not ours")
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".a.json.notmine-suffix").write_text("not the shape of a partial write")
    assert json.loads((tmp_path / "a.json").read_text()) == {"old": True}

    assert remove_partial_writes(tmp_path, "a.json") == 2
    assert not first.exists() and not second.exists() and other.exists()
    assert remove_partial_writes(tmp_path) == 1
    assert hidden(tmp_path) == [".a.json.notmine-suffix", ".downloads", ".keep"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"old": True}
    assert remove_partial_writes(tmp_path / "missing") == 0


def test_on_a_shared_volume_only_leftovers_nobody_touched_for_a_while_go(tmp_path: Path) -> None:
    fresh, stale = killed_write(tmp_path / "state.json"), killed_write(tmp_path / "state.json")
    an_hour_ago = time.time() - SHARED_VOLUME_GRACE - 60
    os.utime(stale, (an_hour_ago, an_hour_ago))
    assert remove_partial_writes(tmp_path, "state.json", older_than=SHARED_VOLUME_GRACE) == 1
    assert fresh.exists() and not stale.exists()


def _record(path: Path) -> None:
    TrainingRecord.load(path)


async def _downloads(path: Path) -> None:
    await Downloader(None, path.parent, concurrency=1).images([])  # type: ignore[arg-type]


OWNERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "trainer record": ("training/record.json", _record),
    "trainer history": ("history.json", TrainingHistory),
    "converter records": ("conversions.json", lambda path: Records(path, 1.0, 2.0)),
    "detector quotas": ("outbox/quotas.json", QuotaBook),
    "detector outbox journal": ("outbox/inflight.json",
                                lambda path: OutboxStore(path.parent, 100, 2**30, DetectorMetrics())),
    "trainer image cache": ("images/org/project/1234.jpg", _downloads),
}


@pytest.mark.parametrize("owner", OWNERS)
async def test_each_owner_of_a_file_deletes_what_killed_writes_of_it_left(tmp_path: Path, owner: str) -> None:
    relative, start = OWNERS[owner]
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    leftovers = [killed_write(target) for _ in range(2)]
    assert all(p.exists() for p in leftovers)
    started = start(target)
    if hasattr(started, "__await__"):
        await started
    assert [p for p in leftovers if p.exists()] == []


def test_on_volumes_replicas_may_share_the_detector_keeps_recent_leftovers_and_deletes_old_ones(
        tmp_path: Path) -> None:
    staging = tmp_path / "models" / ".downloads"
    staging.mkdir(parents=True)
    old_download, new_download = killed_write(staging / "m.onnx.zip"), killed_write(staging / "m.onnx.zip")
    old_uuids, new_uuids = killed_write(tmp_path / "uuids.json"), killed_write(tmp_path / "uuids.json")
    an_hour_ago = time.time() - SHARED_VOLUME_GRACE - 60
    for path in (old_download, old_uuids):
        os.utime(path, (an_hour_ago, an_hour_ago))
    ModelCache(tmp_path / "models", None)  # type: ignore[arg-type]
    node_uuid(tmp_path, "detector")
    assert (old_download.exists(), new_download.exists()) == (False, True)
    assert (old_uuids.exists(), new_uuids.exists()) == (False, True)


def test_a_detector_process_starting_on_a_data_dir_with_leftovers_deletes_its_own_and_old_shared_ones(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    """The whole node: what earlier kills left in its data dir, seen after a real detector process is ready."""
    data = tmp_path / "detector"
    (data / "models" / ".downloads").mkdir(parents=True)
    (data / "outbox").mkdir()
    own = [killed_write(data / "outbox" / "inflight.json"), killed_write(data / "outbox" / "quotas.json")]
    shared = {path: killed_write(path) for path in
              (data / "detector_state.json", data / "uuids.json", data / "models" / ".downloads" / "m.onnx.zip")}
    an_hour_ago = time.time() - SHARED_VOLUME_GRACE - 60
    old = {path: killed_write(path) for path in shared}
    for leftover in old.values():
        os.utime(leftover, (an_hour_ago, an_hour_ago))

    start_detector(stub, loop, start_node, tmp_path)

    assert [p.name for p in own if p.exists()] == []
    assert [p.name for p in old.values() if p.exists()] == []
    assert [p.name for p in shared.values() if not p.exists()] == []  # a replica beside it might be writing those
