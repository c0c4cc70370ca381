"""The partition's edges: the ranking is fixed across versions, one or two replicas, a forgotten unknown key."""

from __future__ import annotations

import pytest

from loop_converter import partition
from loop_converter.partition import Partition, owner, ranking

KEYS = [f"zauberzeug/demo/model-{i}/onnx_int8" for i in range(200)]


def test_the_ranking_is_the_same_in_every_version() -> None:
    """During a rolling update old and new replicas run side by side and must still agree on every model's owner:
    the ranking (sha256 of key and replica, highest first) is pinned, not only consistent within one version."""
    assert ranking("zauberzeug/demo/model-0/onnx_int8", 3) == [0, 1, 2]
    assert ranking("zauberzeug/demo/model-1/onnx_int8", 3) == [0, 2, 1]
    assert ranking("a/b/c/d", 3) == [2, 0, 1]
    assert ranking("zauberzeug/demo/model-0/onnx_int8", 5) == [4, 3, 0, 1, 2]
    assert ranking("a/b/c/d", 5) == [3, 4, 2, 0, 1]


def test_a_single_replica_converts_everything_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition.time, "monotonic", lambda: 1000.0)  # no time passes
    alone = Partition(0, 1, 60)
    assert all(alone.rank(k) == 0 and alone.mine(k) and not alone.taken_over(k) for k in KEYS)


def test_two_replicas_split_the_models_without_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition.time, "monotonic", lambda: 1000.0)
    pair = [Partition(0, 2, 60), Partition(1, 2, 60)]
    mine = [[r.mine(k) for r in pair] for k in KEYS]
    assert all(row.count(True) == 1 for row in mine)
    assert all(pair[owner(k, 2)].rank(k) == 0 and pair[1 - owner(k, 2)].rank(k) == 1 for k in KEYS)


def test_an_owners_own_models_are_not_taken_over() -> None:
    replica = Partition(1, 3, 60)
    own = [k for k in KEYS if owner(k, 3) == 1]
    assert own and not any(replica.taken_over(k) for k in own)
    assert all(replica.taken_over(k) for k in KEYS if owner(k, 3) != 1)


def test_forgetting_a_model_never_seen_is_harmless() -> None:
    replica = Partition(0, 3, 60)
    replica.forget("zauberzeug/demo/never-seen/onnx")
    assert replica.mine(next(k for k in KEYS if owner(k, 3) == 0))
