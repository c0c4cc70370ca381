"""Outbox directories of detector replicas: each process holds its own (a lock), and the waiting images of one
whose process died are adopted by the next detector that starts on the same data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox_dirs import OutboxDirError, adopt_orphans, claim
from loop_detector.outbox_store import OutboxStore


def store(root: Path) -> OutboxStore:
    return OutboxStore(root, 1000, 2**30, DetectorMetrics())


def fill(root: Path, n: int, priority: bool = False) -> list[str]:
    outbox = store(root)
    return [outbox.put(f"jpeg {i} of {root.name}".encode(), {"tags": []}, priority, True) for i in range(n)]


def test_a_single_detector_keeps_its_outbox_where_it_was_and_a_second_process_gets_another(tmp_path: Path) -> None:
    first, lock = claim(tmp_path, "")
    assert first == tmp_path / "outbox"
    second, lock2 = claim(tmp_path, "")  # the lock is per open file: a second claim in this process is refused
    assert second == tmp_path / "outboxes" / "detector.1"
    lock.close()
    third, lock3 = claim(tmp_path, "")
    assert third == tmp_path / "outbox"
    lock2.close()
    lock3.close()


def test_replicas_claim_their_own_directory_even_on_a_shared_volume(tmp_path: Path) -> None:
    claims = [claim(tmp_path, replica) for replica in ("1", "2", "1")]
    assert [d.relative_to(tmp_path).as_posix() for d, _ in claims] == ["outboxes/1", "outboxes/2", "outboxes/1.1"]
    for _, lock in claims:
        lock.close()
    with pytest.raises(OutboxDirError, match="no free outbox directory"):
        held = [claim(tmp_path, "x", tries=3) for _ in range(4)]
        del held


def test_the_waiting_images_of_a_gone_detector_are_adopted_with_their_ids(tmp_path: Path) -> None:
    gone = tmp_path / "outboxes" / "2"
    normal, priority = fill(gone, 3), fill(gone, 1, priority=True)
    (gone / "quarantine" / "refused.jpg").write_bytes(b"kept")
    busy, busy_lock = claim(tmp_path, "3")
    busy_items = fill(busy, 2)
    own, lock = claim(tmp_path, "1")

    assert adopt_orphans(tmp_path, own) == 4
    recovered = store(own)
    assert [i.id for i in recovered.queues[False]] == normal and [i.id for i in recovered.queues[True]] == priority
    assert recovered.read(list(recovered.queues[True]))[1][1][1] == b"jpeg 0 of 2"
    assert (own / "quarantine" / "refused.jpg").read_bytes() == b"kept"
    assert not gone.exists()  # emptied and removed
    assert [i.id for i in store(busy).queues[False]] == busy_items  # a running detector's outbox is left alone
    assert adopt_orphans(tmp_path, own) == 0
    lock.close()
    busy_lock.close()


def test_an_adoption_interrupted_between_its_links_sends_the_item_again_rather_than_losing_it(tmp_path: Path) -> None:
    gone = tmp_path / "outboxes" / "2"
    [item] = fill(gone, 1)
    own, lock = claim(tmp_path, "1")
    (own / "normal").mkdir(parents=True)
    os.link(gone / "normal" / f"{item}.jpg", own / "normal" / f"{item}.jpg")  # the crash came after the first link
    assert adopt_orphans(tmp_path, own) == 1
    assert [i.id for i in store(own).queues[False]] == [item]
    lock.close()
