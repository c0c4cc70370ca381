"""The inference pool: results and errors as from any executor, the warm thread first, a clean shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from loop_detector.inference_pool import LifoThreadPool


def test_results_errors_and_asyncio() -> None:
    pool = LifoThreadPool(3, "t")
    try:
        assert [pool.submit(pow, i, 2).result(timeout=5) for i in range(5)] == [0, 1, 4, 9, 16]
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=5)

        async def run() -> str:
            return await asyncio.get_running_loop().run_in_executor(pool, str.upper, "ok")

        assert asyncio.run(run()) == "OK"
    finally:
        pool.shutdown()


def test_one_request_after_another_is_served_by_the_same_thread() -> None:
    pool = LifoThreadPool(3, "t")
    try:
        threads = {pool.submit(threading.get_ident).result(timeout=5) for _ in range(50)}
        assert len(threads) == 1
    finally:
        pool.shutdown()


def test_concurrent_work_uses_every_thread_and_the_rest_waits() -> None:
    pool = LifoThreadPool(3, "t")
    gate, done = threading.Event(), []
    try:
        blockers = [pool.submit(lambda: (gate.wait(5), threading.get_ident())[1]) for _ in range(3)]
        queued = [pool.submit(done.append, i) for i in range(10)]
        time.sleep(0.05)
        assert done == []  # every thread is busy: the rest waits
        gate.set()
        assert len({b.result(timeout=5) for b in blockers}) == 3
        assert [future.result(timeout=5) for future in queued] == [None] * 10 and len(done) == 10
    finally:
        pool.shutdown()


def test_waiting_work_is_taken_in_arrival_order() -> None:
    # one thread, so the order in which work runs is the order in which it left the queue
    pool = LifoThreadPool(1, "t")
    gate, order = threading.Event(), []
    try:
        blocker = pool.submit(gate.wait, 5)
        queued = [pool.submit(order.append, i) for i in range(20)]
        time.sleep(0.05)
        assert order == []
        gate.set()
        assert blocker.result(timeout=5) is True
        for future in queued:
            future.result(timeout=5)
        assert order == list(range(20))
    finally:
        pool.shutdown()


def test_shutdown_cancels_waiting_work_finishes_running_work_and_refuses_more() -> None:
    pool = LifoThreadPool(1, "t")
    gate = threading.Event()
    running = pool.submit(lambda: gate.wait(5) and "done")
    waiting = pool.submit(lambda: "never")
    stopper = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True})
    stopper.start()
    time.sleep(0.05)
    gate.set()
    stopper.join(timeout=5)
    assert not stopper.is_alive()
    assert running.result(timeout=1) == "done" and waiting.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(print)
