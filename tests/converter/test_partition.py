"""The converter's partition: every model has exactly one replica at a time, a gone replica's share is split over
the others after the takeover time, each model going to one of them."""

from __future__ import annotations

from collections import Counter

import pytest

from loop_converter import partition
from loop_converter.partition import Partition, owner, ranking, replica_number

KEYS = [f"zauberzeug/demo/model-{i}/onnx_int8" for i in range(3000)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(partition.time, "monotonic", fake)
    return fake


def test_replica_numbers_from_slots_ordinals_and_pod_names() -> None:
    assert [replica_number(v) for v in ("0", "3", " 7 ", "converter-2", "loop-converter-11")] == [0, 3, 7, 2, 11]
    with pytest.raises(ValueError, match="neither a number"):
        replica_number("converter")
    # Swarm's slots 1..3 and a StatefulSet's ordinals 0..2 are both three distinct replicas
    assert sorted(Partition(slot, 3, 60).index for slot in (1, 2, 3)) == [0, 1, 2]


def test_each_model_has_one_owner_and_the_shares_are_even(clock: Clock) -> None:
    replicas = [Partition(i, 3, 60) for i in range(3)]
    mine = [[r.mine(k) for r in replicas] for k in KEYS]
    assert all(row.count(True) == 1 for row in mine)
    shares = Counter(row.index(True) for row in mine)
    assert all(800 <= shares[i] <= 1200 for i in range(3)), shares
    assert all(sorted(ranking(k, 3)) == [0, 1, 2] and ranking(k, 3)[0] == owner(k, 3) for k in KEYS[:100])
    assert ranking(KEYS[0], 3) == ranking(KEYS[0], 3)  # every replica computes the same ranking


def test_a_gone_replicas_share_goes_to_exactly_one_survivor_after_the_takeover_time(clock: Clock) -> None:
    survivors = [Partition(i, 3, 60) for i in (0, 1)]  # replica 2 is gone
    orphans = [k for k in KEYS if owner(k, 3) == 2]
    assert not any(r.mine(k) for k in orphans for r in survivors)  # first sight starts the clock
    clock.now += 59.9
    assert not any(r.mine(k) for k in orphans for r in survivors)
    clock.now += 0.1
    takers = [[r.mine(k) for r in survivors] for k in orphans]
    assert all(row.count(True) == 1 for row in takers)
    split = Counter(row.index(True) for row in takers)
    assert min(split.values()) > 0.35 * len(orphans)  # split over both survivors, not dumped on one
    assert all(survivors[row.index(True)].taken_over(k) for k, row in zip(orphans, takers, strict=True))


def test_with_two_replicas_gone_the_last_takes_their_models_after_its_rank(clock: Clock) -> None:
    last = Partition(0, 3, 60)
    orphans = [k for k in KEYS if owner(k, 3) != 0]
    second = [k for k in orphans if ranking(k, 3)[1] == 0]
    assert not any(last.mine(k) for k in orphans)
    clock.now += 60
    assert {k for k in orphans if last.mine(k)} == set(second)
    clock.now += 60
    assert all(last.mine(k) for k in orphans)


def test_a_model_converted_meanwhile_starts_its_clock_again(clock: Clock) -> None:
    replica = Partition(0, 3, 60)
    key = next(k for k in KEYS if replica.rank(k) == 1)
    assert not replica.mine(key)
    clock.now += 50
    replica.forget(key)
    clock.now += 20
    assert not replica.mine(key)
    clock.now += 60
    assert replica.mine(key)
