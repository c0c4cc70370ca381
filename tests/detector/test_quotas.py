"""The quota book on its own, with a fake clock: window edges, the wait, scopes without limits, the bounded scope
count, and what survives a restart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loop_detector.quotas import QuotaBook

T0 = 1_800_000_000.0
MINUTE = [(60.0, 2)]


def test_an_upload_counts_for_exactly_the_window_after_it(tmp_path: Path) -> None:
    book = QuotaBook(tmp_path / "quotas.json")
    book.count([("all", MINUTE)], T0)
    assert book.used("all", 60, T0) == 1
    assert book.used("all", 60, T0 + 59.5) == 1
    assert book.used("all", 60, T0 + 60) == 0  # exactly one window later it has left
    book.count([("all", MINUTE)], T0 + 1)
    assert not book.allows("all", MINUTE, T0 + 59)
    assert book.allows("all", MINUTE, T0 + 60)  # the first has left; the second still counts
    assert not book.allows("all", [(60.0, 1)], T0 + 60)


def test_the_wait_is_until_the_oldest_upload_that_must_go_has_left(tmp_path: Path) -> None:
    book = QuotaBook(tmp_path / "quotas.json")
    for t in (0.0, 10.0, 20.0):
        book.count([("all", [(3600.0, 3)])], T0 + t)
    assert book.wait("all", [(3600.0, 3)], T0 + 30) == pytest.approx(3570.0)  # the first leaves at 3600
    assert book.wait("all", [(3600.0, 2)], T0 + 30) == pytest.approx(3580.0)  # two must go: the second at 3610
    assert book.wait("all", [(3600.0, 4)], T0 + 30) == 0.0
    # of several windows, the longest wait
    assert book.wait("all", [(60.0, 2), (3600.0, 3)], T0 + 30) == pytest.approx(3570.0)
    assert book.wait("all", [(3600.0, 3), (60.0, 2)], T0 + 30) == pytest.approx(3570.0)
    assert book.wait("all", [(60.0, 2)], T0 + 30) == pytest.approx(40.0)  # 10 and 20 are inside: 10 must go
    assert book.wait("all", [(3600.0, 0)], T0) == math.inf
    assert book.wait("nobody", [(60.0, 1)], T0) == 0.0


def test_scopes_without_limits_are_not_counted_or_written(tmp_path: Path) -> None:
    path = tmp_path / "quotas.json"
    book = QuotaBook(path)
    book.count([("camera:left", [])], T0)
    assert not path.exists()
    assert book.used("camera:left", 60, T0) == 0
    book.count([("camera:left", []), ("all", MINUTE)], T0)
    assert json.loads(path.read_text()) == {"all": [T0]}


def test_only_the_longest_window_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "quotas.json"
    book = QuotaBook(path)
    windows = [(60.0, 5), (3600.0, 5)]
    book.count([("all", windows)], T0)
    book.count([("all", windows)], T0 + 3599)
    assert json.loads(path.read_text()) == {"all": [T0, T0 + 3599]}  # the first is still inside the hour
    book.count([("all", windows)], T0 + 3600)
    assert json.loads(path.read_text()) == {"all": [T0 + 3599, T0 + 3600]}  # exactly an hour old: gone


def test_the_least_recently_used_scopes_are_forgotten_beyond_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "quotas.json"
    book = QuotaBook(path, max_scopes=2)
    book.count([("a", MINUTE)], T0)
    book.count([("b", MINUTE)], T0 + 1)
    book.count([("a", MINUTE)], T0 + 2)  # a is used again: b is now the oldest
    book.count([("c", MINUTE)], T0 + 3)
    assert set(json.loads(path.read_text())) == {"a", "c"}
    assert book.used("a", 60, T0 + 3) == 2
    assert book.used("b", 60, T0 + 3) == 0


def test_a_restart_keeps_the_counts_sorted_and_ignores_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "quotas.json"
    path.write_text(json.dumps({"all": [T0 + 20, T0, T0 + 10], "7": ["1800000005"]}))
    book = QuotaBook(path)
    assert book.used("all", 60, T0 + 30) == 3
    assert book.used("7", 60, T0 + 30) == 1
    # sorted on load: the wait is computed from the oldest
    assert book.wait("all", [(60.0, 3)], T0 + 30) == pytest.approx(30.0)
    book.count([("all", [(15.0, 9)])], T0 + 30)  # the horizon (15 s) drops the two oldest, in order
    assert json.loads(path.read_text())["all"] == [T0 + 20, T0 + 30]
    path.write_text('{"all": [1, ')
    assert QuotaBook(path).used("all", 1e12, T0) == 0
    path.write_text('["not", "a", "map"]')
    assert QuotaBook(path).used("all", 1e12, T0) == 0
    assert QuotaBook(tmp_path / "none.json").used("all", 1e12, T0) == 0


def test_a_leftover_of_a_killed_write_is_deleted_at_start(tmp_path: Path) -> None:
    path = tmp_path / "quotas.json"
    leftover = tmp_path / ".quotas.json.abcd1234"
    leftover.write_text("{")
    others = tmp_path / ".inflight.json.abcd1234"  # the outbox's own, in the same folder: not the book's to delete
    others.write_text("[")
    QuotaBook(path)
    assert not leftover.exists()
    assert others.exists()


def test_the_clock_is_the_injected_one(tmp_path: Path) -> None:
    assert QuotaBook(tmp_path / "quotas.json", clock=lambda: 42.0).now() == 42.0
