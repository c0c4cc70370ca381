"""Each detector process has an outbox directory of its own, never shared, and none whose owner died is forgotten.

Replicas may share `LOOP_DATA_DIR`: during a Swarm rolling update with `start-first` the new task of a slot runs
beside the old one on the same volume, and several replicas on one host may share a volume. A process claims an
outbox directory by holding an exclusive lock (`flock` on its `.lock`) for as long as it lives: the first free
one of `outbox` (a single detector, no `LOOP_REPLICA_ID`) or `outboxes/<replica id>`, then `outboxes/<name>.1`,
`.2`, ... A directory whose lock can be taken belongs to nobody: at start, before its own outbox is recovered, the
detector moves the waiting images of every such directory into its own, so the images a replica accepted before
it died are delivered by the next detector that starts on that volume.

Moving is crash-safe by hard links: both files of an item are linked into our directory before the orphan's are
unlinked (json first), so a crash in between leaves a duplicate (sent twice, at least once), never a half item.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import IO

from loop_shared.settings import ConfigurationError

log = logging.getLogger("detector.outbox")
LEGACY, REPLICAS, LOCK = "outbox", "outboxes", ".lock"
QUEUES = ("priority", "normal")


class OutboxDirError(ConfigurationError):
    """No outbox directory could be claimed."""


def _try_lock(directory: Path) -> IO[bytes] | None:
    """An open, exclusively locked handle on `directory/.lock`, or None when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK, "ab")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def claim(data_dir: Path, replica_id: str, tries: int = 100) -> tuple[Path, IO[bytes]]:
    """The outbox directory this process owns, and the lock handle to keep open while it runs."""
    first = data_dir / REPLICAS / replica_id if replica_id else data_dir / LEGACY
    base = replica_id or "detector"
    for candidate in [first, *(data_dir / REPLICAS / f"{base}.{n}" for n in range(1, tries))]:
        handle = _try_lock(candidate)
        if handle is not None:
            if candidate != first:
                log.warning("outbox %s is in use by another detector process; using %s", first, candidate)
            return candidate, handle
    raise OutboxDirError(f"no free outbox directory in {data_dir} ({tries} are in use)")


def _move(src: Path, dst_dir: Path) -> bool:
    target = dst_dir / src.name
    if target.exists():
        return False
    os.link(src, target)
    return True


def _adopt_items(orphan: Path, own: Path) -> int:
    moved = 0
    for queue in QUEUES:
        (own / queue).mkdir(parents=True, exist_ok=True)
        for meta in sorted((orphan / queue).glob("*.json")):
            jpg = meta.with_suffix(".jpg")
            if not jpg.exists():
                continue  # never a whole item: the orphan's own recovery would have dropped it
            if (own / queue / meta.name).exists():
                log.error("outbox item %s exists in %s as well; leaving %s in place", meta.stem, own, orphan)
                continue
            _move(jpg, own / queue)
            _move(meta, own / queue)
            meta.unlink()
            jpg.unlink()
            moved += 1
    quarantine = orphan / "quarantine"
    if quarantine.is_dir():
        (own / "quarantine").mkdir(parents=True, exist_ok=True)
        for path in quarantine.iterdir():
            if path.is_file() and _move(path, own / "quarantine"):
                path.unlink()
    return moved


def adopt_orphans(data_dir: Path, own: Path) -> int:
    """Move the items of every outbox directory nobody holds into `own`; returns how many images were adopted."""
    candidates = [data_dir / LEGACY, *sorted(p for p in (data_dir / REPLICAS).glob("*") if p.is_dir())]
    adopted = 0
    for orphan in candidates:
        if orphan == own or not orphan.is_dir():
            continue
        handle = _try_lock(orphan)
        if handle is None:
            continue  # a running detector's
        try:
            moved = _adopt_items(orphan, own)
            if moved:
                log.warning("adopted %d waiting images from %s, whose detector is gone", moved, orphan)
            adopted += moved
            if orphan.parent.name == REPLICAS and not any(p for q in QUEUES for p in (orphan / q).glob("*.json")):
                shutil.rmtree(orphan, ignore_errors=True)
        finally:
            handle.close()
    return adopted
