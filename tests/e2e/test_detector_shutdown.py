"""A detector that is stopped (SIGTERM: `docker stop`, a Kubernetes scale-down) first delivers what waits in its
outbox, for up to LOOP_OUTBOX_DRAIN_SECONDS: what a removed replica leaves waits until it runs again. Counted at the
stub Loop's receive counters (what the node sent); with the drain switched off the same stop leaves images on disk,
so the counts tell the two apart. No duration is asserted: each test waits for the process to exit (bounded far above
any drain here) and asserts what it delivered, what it left, and the reason its log gives."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from loop_testkit.processes import Service, wait_until
from tests.conftest import ORG, node_env
from tests.e2e.test_detector_process import PROJECT, deploy, jpeg_of, upload_model
from tests.e2e.test_detector_replicas import arrivals

IMAGES = 200  # distinct images, delivered one per request below
DRAINED = re.compile(r"shutdown: (\d+) of (\d+) waiting images delivered")
DRAIN = 300  # LOOP_OUTBOX_DRAIN_SECONDS where a drain should run: far more than any machine needs for 200 requests
EXIT_BOUND = DRAIN + 120  # how long a stop is waited for: past any drain plus the in-flight grace and the shutdown


def send(detector: Service, count: int) -> dict[str, int]:
    """Upload `count` distinct noise images in one request; returns sha256 prefix -> number."""
    jpegs = {n: jpeg_of(np.random.default_rng(n).integers(0, 256, (32, 32, 3), dtype=np.uint8)) for n in range(count)}
    response = httpx.post(f"{detector.url}/upload", files=[("files", j) for j in jpegs.values()], timeout=60)
    assert response.json() == [200, "OK"], response.text
    sent = {hashlib.sha256(j).hexdigest()[:16]: n for n, j in jpegs.items()}
    assert len(sent) == count
    return sent


def detector_with_backlog(stub: Service, loop: httpx.Client, start_node: Callable[..., Service], data: Path,
                          before_upload: Callable[[], None] = lambda: None, **env: str
                          ) -> tuple[Service, dict[str, int]]:
    """A ready detector whose outbox holds IMAGES images, just switched to continuous upload (one image per
    request: delivering them takes far longer than a stop takes to begin); `before_upload` runs just before."""
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0, "box_categories": 0})
    upload_model(loop, data.parent, "v1")
    deploy(loop, "1.0")
    detector = start_node("loop-detector", node_env(stub, data, PROJECT, LOOP_POLL_INTERVAL="0.3",
                                                    LOOP_OUTBOX_BATCH_SIZE="1", **env), ready_path="/ready")
    assert httpx.put(f"{detector.url}/outbox_mode", content=b"stopped").json() == "OK"
    sent = send(detector, IMAGES)
    before_upload()
    assert httpx.put(f"{detector.url}/outbox_mode", content=b"continuous_upload").json() == "OK"
    return detector, sent


def terminate(detector: Service) -> str:
    """SIGTERM; the process must exit by itself, as uvicorn ends after a graceful shutdown (it re-raises the
    signal); waited for up to EXIT_BOUND seconds, a bound only against a hang. Returns its log."""
    assert detector.proc is not None
    detector.proc.send_signal(signal.SIGTERM)
    try:
        code = detector.proc.wait(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        detector.kill()
        raise AssertionError(f"the detector did not exit after SIGTERM (waited {EXIT_BOUND} s):\n{detector.log()}"
                             ) from None
    assert code in (0, -signal.SIGTERM), detector.log()
    assert "Application shutdown complete" in detector.log()
    return detector.log()


def waiting_on_disk(data: Path) -> int:
    """Items in the outbox's queues (an item is its .json and its .jpg)."""
    return sum(len(list((data / "outbox" / queue).glob("*.json"))) for queue in ("priority", "normal"))


def test_a_stop_delivers_the_waiting_images_first(stub: Service, loop: httpx.Client,
                                                  start_node: Callable[..., Service], tmp_path: Path) -> None:
    data = tmp_path / "detector"
    detector, sent = detector_with_backlog(stub, loop, start_node, data, LOOP_OUTBOX_DRAIN_SECONDS=str(DRAIN))
    log = terminate(detector)
    delivered, waiting = map(int, DRAINED.search(log).groups())  # type: ignore[union-attr]
    assert 0 < delivered == waiting, log
    assert arrivals(stub) == dict.fromkeys(sent, 1)  # all of them, each once, before the process ended
    assert waiting_on_disk(data) == 0


def test_without_the_drain_a_stop_leaves_them_on_disk_for_the_next_start(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    data = tmp_path / "detector"
    detector, sent = detector_with_backlog(stub, loop, start_node, data, LOOP_OUTBOX_DRAIN_SECONDS="0")
    log = terminate(detector)
    assert "shutdown: " not in log
    arrived = arrivals(stub)
    assert len(arrived) < IMAGES and len(arrived) + waiting_on_disk(data) == IMAGES  # the one in flight was answered
    start_node("loop-detector", node_env(stub, data, PROJECT), ready_path="/ready")
    wait_until(lambda: len(arrivals(stub)) == IMAGES, timeout=120, what="every image at the stub")
    assert arrivals(stub) == dict.fromkeys(sent, 1)


def test_a_stop_while_the_loop_is_away_does_not_wait_out_the_drain(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    data = tmp_path / "detector"
    detector, _ = detector_with_backlog(stub, loop, start_node, data, before_upload=stub.stop,
                                        LOOP_OUTBOX_DRAIN_SECONDS=str(DRAIN), LOOP_OUTBOX_BACKOFF_CAP="60")
    wait_until(lambda: "outbox: Loop unreachable" in detector.log(), timeout=120,
               what="the outbox noticing the Loop is away")
    log = terminate(detector)
    delivered, waiting = map(int, DRAINED.search(log).groups())  # type: ignore[union-attr]
    assert delivered == 0 and waiting == IMAGES, log
    # the drain ended at the next failed attempt, not by waiting out its time (or the 60 s backoff)
    assert f"(the Loop failed again); {waiting} stay on disk for the next start" in log
    assert waiting_on_disk(data) == waiting
