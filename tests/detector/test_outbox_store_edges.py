"""The outbox store on its own: the order of writes, fsyncs and renames, ids under a clock that repeats, what
recovery keeps and drops, the budget, the journal, quarantine and the multipart parts, each counted."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loop_detector import outbox_store
from loop_detector.errors import OutboxFullError
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox_store import Item, OutboxStore

JPEG = b"\xff\xd8" + b"j" * 100
TICK = datetime(2026, 11, 24, 3, 1, 58, 305514)


def store(tmp_path: Path, max_items: int = 100, max_bytes: int = 10**9) -> tuple[OutboxStore, DetectorMetrics]:
    metrics = DetectorMetrics()
    return OutboxStore(tmp_path / "outbox", max_items, max_bytes, metrics), metrics


def sample(metrics: DetectorMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall clock that never moves (the same tick for every item)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Frozen:  # type: ignore[override]
            return cls(TICK.year, TICK.month, TICK.day, TICK.hour, TICK.minute, TICK.second, TICK.microsecond,
                       tzinfo=UTC)

    monkeypatch.setattr(outbox_store, "datetime", Frozen)


def test_an_item_is_written_fsynced_renamed_json_last_and_its_folder_fsynced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = store(tmp_path)
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        events.append(f"fsync {target.parent.name}/{target.suffix or target.name}")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"rename {Path(src).parent.name}/{Path(src).suffix} -> {Path(dst).parent.name}")
        real_replace(src, dst)

    monkeypatch.setattr(outbox_store.os, "fsync", fsync)
    monkeypatch.setattr(outbox_store.os, "replace", replace)
    s.put(JPEG, {"tags": ["a"]}, priority=False, drop_when_full=True)
    assert events == ["fsync tmp/.jpg", "fsync tmp/.json", "rename tmp/.jpg -> normal", "rename tmp/.json -> normal",
                      "fsync outbox/normal"]


def test_ids_stay_unique_when_the_clock_repeats_and_travel_with_colons(tmp_path: Path, frozen: None) -> None:
    s, _ = store(tmp_path)
    ids = [s.put(JPEG, {}, priority=False, drop_when_full=True) for _ in range(3)]
    assert ids == ["2026-11-24_03-01-58.305514", "2026-11-24_03-01-58.305515", "2026-11-24_03-01-58.305516"]
    assert Item(ids[0], False, 0).identifier == "2026-11-24_03:01:58.305514"
    assert Item("legacy-id", False, 0).identifier == "legacy-id"  # older ids travel as they are
    assert Item(ids[0], False, 0).part_name("json") == "image_2026-11-24_03%3A01%3A58.305514.json"
    restarted, _ = store(tmp_path)  # a restart at the same tick: the ids on disk are not repeated
    assert restarted.put(JPEG, {}, priority=True, drop_when_full=True) == "2026-11-24_03-01-58.305517"


def test_recovery_keeps_whole_items_drops_halves_and_counts(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    kept = [s.put(JPEG, {"n": i}, priority=bool(i % 2), drop_when_full=True) for i in range(3)]
    normal, priority = tmp_path / "outbox" / "normal", tmp_path / "outbox" / "priority"
    (normal / "2026-01-01_00-00-00.000001.json").write_text("{}")  # metadata without its image
    (priority / "2026-01-01_00-00-00.000002.jpg").write_bytes(JPEG)  # an image whose metadata never landed
    (tmp_path / "outbox" / "tmp" / "staged.jpg").write_bytes(JPEG)
    again, metrics = store(tmp_path)
    assert [i.id for i in again.queues[False]] == [kept[0], kept[2]] and [i.id for i in again.queues[True]] == [kept[1]]
    assert names(normal) == sorted(f"{i}.{e}" for i in (kept[0], kept[2]) for e in ("jpg", "json"))
    assert names(priority) == sorted(f"{kept[1]}.{e}" for e in ("jpg", "json"))
    assert names(tmp_path / "outbox" / "tmp") == []
    assert sample(metrics, "loop_detector_outbox_dropped_total", reason="corrupt") == 1
    size = len(JPEG) + len(b'{"n": 0}')
    assert again.bytes == 3 * size and all(i.size == size for q in again.queues.values() for i in q)
    assert sample(metrics, "loop_detector_outbox_items", queue="normal") == 2
    assert sample(metrics, "loop_detector_outbox_items", queue="priority") == 1
    assert sample(metrics, "loop_detector_outbox_bytes") == 3 * size


def test_the_journal_names_only_waiting_items_and_goes_after_recovery(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    ids = [s.put(JPEG, {}, priority=False, drop_when_full=True) for _ in range(3)]
    assert [i.id for i in s.next_batch(2)] == ids[:2]
    journal = tmp_path / "outbox" / "inflight.json"
    assert json.loads(journal.read_text()) == ids[:2]
    s.remove([s.queues[False][0]])  # delivered, then the crash came before the journal went
    again, metrics = store(tmp_path)
    assert again.interrupted == [ids[1]]
    assert sample(metrics, "loop_detector_outbox_interrupted_total") == 1
    assert not journal.exists()
    journal.write_text("{not json")
    assert store(tmp_path)[0].interrupted == [] and not journal.exists()
    assert sample(store(tmp_path)[1], "loop_detector_outbox_interrupted_total") == 0


def test_a_batch_is_priority_first_or_priority_only_and_done_clears_it(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    normal = s.put(JPEG, {}, priority=False, drop_when_full=True)
    first, second = (s.put(JPEG, {}, priority=True, drop_when_full=True) for _ in range(2))
    assert [i.id for i in s.next_batch(5)] == [first, second, normal]
    assert [i.id for i in s.next_batch(5, priority_only=True)] == [first, second]
    assert s.in_flight == {first, second}
    s.done_sending()
    assert s.in_flight == set() and not (tmp_path / "outbox" / "inflight.json").exists()
    assert s.next_batch(5, priority_only=True)[:1] == [s.queues[True][0]]
    assert s.next_batch(0) == [] and s.in_flight == set()


def test_the_budget_drops_the_oldest_normal_item_not_in_flight(tmp_path: Path) -> None:
    size = len(JPEG) + 2
    s, metrics = store(tmp_path, max_items=3, max_bytes=10**9)
    ids = [s.put(JPEG, {}, priority=False, drop_when_full=True) for _ in range(3)]  # exactly the limit: all kept
    assert s.depth() == 3 and sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 0
    s.next_batch(1)  # the oldest is being sent: it is not the one to go
    newest = s.put(JPEG, {}, priority=False, drop_when_full=True)
    assert [i.id for i in s.queues[False]] == [ids[0], ids[2], newest]
    assert not (tmp_path / "outbox" / "normal" / f"{ids[1]}.json").exists()
    assert not (tmp_path / "outbox" / "normal" / f"{ids[1]}.jpg").exists()
    assert s.bytes == 3 * size and sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 1
    by_bytes, _ = store(tmp_path / "b", max_items=100, max_bytes=2 * size)
    kept = [by_bytes.put(JPEG, {}, priority=False, drop_when_full=True) for _ in range(3)]
    assert [i.id for i in by_bytes.queues[False]] == kept[1:] and by_bytes.bytes == 2 * size


def test_a_full_outbox_of_priority_items_refuses_and_counts_only_normal_newcomers(tmp_path: Path) -> None:
    s, metrics = store(tmp_path, max_items=1)
    s.put(JPEG, {}, priority=True, drop_when_full=True)
    with pytest.raises(OutboxFullError,
                       match=r"the outbox is full \(1 images, 104 bytes\) and holds nothing that may be dropped$"):
        s.put(JPEG, {}, priority=True, drop_when_full=True)
    assert sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 0
    with pytest.raises(OutboxFullError):
        s.put(JPEG, {}, priority=False, drop_when_full=False)
    assert sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 0
    with pytest.raises(OutboxFullError):
        s.put(JPEG, {}, priority=False, drop_when_full=True)
    assert sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 1
    assert s.depth() == 1 and names(tmp_path / "outbox" / "tmp") == []


def test_removing_deletes_or_quarantines_and_keeps_the_count(tmp_path: Path) -> None:
    s, metrics = store(tmp_path)
    a, b, c = (s.put(JPEG, {"x": 1}, priority=i == 2, drop_when_full=True) for i in range(3))
    items = {i.id: i for q in s.queues.values() for i in q}
    s.remove([items[a]])
    s.remove([items[c]], quarantine=True)
    assert names(tmp_path / "outbox" / "quarantine") == [f"{c}.jpg", f"{c}.json"]
    assert names(tmp_path / "outbox" / "normal") == [f"{b}.jpg", f"{b}.json"]
    assert names(tmp_path / "outbox" / "priority") == []
    assert s.bytes == items[b].size and s.depth() == 1
    assert sample(metrics, "loop_detector_outbox_items", queue="priority") == 0
    assert sample(metrics, "loop_detector_outbox_bytes") == items[b].size
    s.remove([items[a]], quarantine=True)  # already gone: nothing happens, nothing is counted twice
    assert s.bytes == items[b].size and names(tmp_path / "outbox" / "quarantine") == [f"{c}.jpg", f"{c}.json"]


def test_the_parts_are_json_then_jpeg_per_item_named_as_the_reference_names_them(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    item_id = s.put(JPEG, {"tags": ["t"], "image_size": {"width": 3}, "model_version": "1"}, priority=False,
                    drop_when_full=True)
    (item,) = s.queues[False]
    name = Item(item_id, False, 0).identifier.replace(":", "%3A")
    assert s.read([item]) == [("files", (f"image_{name}.json", b'{"tags": ["t"]}', "application/json")),
                              ("files", (f"image_{name}.jpg", JPEG, "image/jpeg"))]


def test_ids_never_repeat_or_go_back_even_after_their_item_left(tmp_path: Path, frozen: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = store(tmp_path)
    first = s.put(JPEG, {}, priority=False, drop_when_full=True)
    s.remove(list(s.queues[False]))  # delivered: its files are gone, its id must still not come back
    second = s.put(JPEG, {}, priority=False, drop_when_full=True)
    assert second > first

    class Earlier(datetime):  # the wall clock set back by a second
        @classmethod
        def now(cls, tz: object = None) -> Earlier:  # type: ignore[override]
            return cls(TICK.year, TICK.month, TICK.day, TICK.hour, TICK.minute, TICK.second - 1, TICK.microsecond,
                       tzinfo=UTC)

    monkeypatch.setattr(outbox_store, "datetime", Earlier)
    third = s.put(JPEG, {}, priority=False, drop_when_full=True)
    assert third > second  # oldest first stays true: ids follow the order of arrival


def test_ids_are_utc_whatever_the_local_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no summer time
    time.tzset()
    try:
        item_id = store(tmp_path)[0].put(JPEG, {}, priority=False, drop_when_full=True)
        before = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
        assert before <= datetime.strptime(item_id, "%Y-%m-%d_%H-%M-%S.%f") <= before + timedelta(minutes=10)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_restarted_items_keep_their_queue_and_can_be_sent_and_removed(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    item_id = s.put(JPEG, {}, priority=True, drop_when_full=True)
    again, _ = store(tmp_path)
    (item,) = again.queues[True]
    assert item.priority is True and len(again.read([item])) == 2
    again.remove([item])
    assert names(tmp_path / "outbox" / "priority") == [] and again.depth() == 0 and item.id == item_id


def test_recovery_sweeps_only_the_journals_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "outbox"
    root.mkdir()
    (root / ".inflight.json.abcd1234").write_text("[")
    (root / ".quotas.json.abcd1234").write_text("{")  # the quota book's, beside it: not the store's to delete
    store(tmp_path)
    assert not (root / ".inflight.json.abcd1234").exists() and (root / ".quotas.json.abcd1234").exists()


def test_nothing_sent_or_a_vanished_file_is_no_error(tmp_path: Path) -> None:
    s, metrics = store(tmp_path, max_items=2)
    assert s.next_batch(5) == []
    s.done_sending()  # no journal was written
    oldest = s.put(JPEG, {}, priority=False, drop_when_full=True)
    s.put(JPEG, {}, priority=False, drop_when_full=True)
    (tmp_path / "outbox" / "normal" / f"{oldest}.jpg").unlink()  # gone behind the store's back
    s.put(JPEG, {}, priority=False, drop_when_full=True)  # the budget drops it all the same
    assert s.depth() == 2 and sample(metrics, "loop_detector_outbox_dropped_total", reason="budget") == 1


def test_the_byte_count_follows_each_removal(tmp_path: Path) -> None:
    s, _ = store(tmp_path)
    ids = [s.put(JPEG, {"pad": "x" * n}, priority=False, drop_when_full=True) for n in (1, 20, 300)]
    items = {i.id: i for i in s.queues[False]}
    s.remove([items[ids[0]]])
    assert s.bytes == items[ids[1]].size + items[ids[2]].size
    s.remove([items[ids[2]]])
    assert s.bytes == items[ids[1]].size
