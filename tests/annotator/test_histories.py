"""Histories per person (loop_annotator/histories.py): bounded in number, memory and age, on a virtual clock."""

from __future__ import annotations

import numpy as np

from loop_annotator.histories import Histories, size_of
from loop_testkit.virtual_clock import VirtualClock


def test_a_person_keeps_their_history_until_it_is_reset_or_forgotten() -> None:
    histories = Histories(10, 10**6, 60, VirtualClock())
    entry = histories.entry("a", dict)
    entry.history["clicks"] = [1]
    assert histories.entry("a", dict).history == {"clicks": [1]}
    histories.reset("a", dict)
    assert histories.entry("a", dict).history == {}
    assert histories.forget("a") and not histories.forget("a") and len(histories) == 0


def test_above_the_count_the_person_idle_longest_is_dropped() -> None:
    clock = VirtualClock()
    histories = Histories(3, 10**6, 600, clock)
    for person in "abc":
        histories.entry(person, dict)
        clock.now += 1
    histories.entry("a", dict)  # a is used again: b is now idle longest
    histories.entry("d", dict)
    assert "b" not in histories and {"a", "c", "d"} <= {p for p in "abcd" if p in histories}
    assert len(histories) == 3 and histories.dropped["count"] == 1


def test_above_the_memory_budget_the_oldest_go_but_never_the_one_in_use() -> None:
    histories = Histories(100, 3_000_000, 600, VirtualClock())
    for person in "abc":
        histories.entry(person, dict).history["mask"] = np.zeros(1_000_000, np.uint8)
        histories.measure(person)
    assert "a" not in histories and len(histories) == 2 and histories.total_bytes <= 3_000_000
    huge = histories.entry("d", dict)
    huge.history["mask"] = np.zeros(5_000_000, np.uint8)
    histories.measure("d")
    assert "d" in histories and len(histories) == 1 and histories.dropped["memory"] == 3
    histories.forget("d")
    assert histories.total_bytes == 0


def test_a_history_untouched_longer_than_the_ttl_expires() -> None:
    clock = VirtualClock()
    histories = Histories(100, 10**6, 60, clock)
    histories.entry("a", dict)
    clock.now += 30
    histories.entry("b", dict)
    clock.now += 31
    histories.expire()
    assert "a" not in histories and "b" in histories and histories.dropped["expired"] == 1


def test_size_of_counts_arrays_containers_and_objects_that_say_their_size() -> None:
    class Sized:
        nbytes = 1234

    assert size_of(np.zeros(1000, np.uint8)) >= 1000
    assert size_of({"a": [np.zeros(500, np.uint8), np.zeros(500, np.uint8)]}) >= 1000
    assert size_of(Sized()) == 1234
