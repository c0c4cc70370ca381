"""`POST /upload` over the upload quota: a 429 with Retry-After, and the image is not kept (a real process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from loop_testkit.processes import Service
from tests.conftest import loop_away_env


def jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_an_upload_over_the_quota_gets_429_with_retry_after_and_is_not_kept(
        start_node: Callable[..., Service], tmp_path: Path) -> None:
    data = tmp_path / "detector"
    # the Loop is away: whatever the detector accepts stays in its outbox to be counted
    detector = start_node("loop-detector", loop_away_env(data, "quota", LOOP_UPLOAD_QUOTA_PER_MINUTE="2"))

    def upload(seed: int, **params: str) -> httpx.Response:
        return httpx.post(detector.url + "/upload", params=params, timeout=30,
                          files=[("files", (f"{seed}.jpg", jpeg(seed), "image/jpeg"))])

    assert [upload(seed).status_code for seed in (1, 2)] == [200, 200]
    over = upload(3)
    assert over.status_code == 429, over.text
    assert "quota" in over.json()["detail"]
    assert 1 <= int(over.headers["retry-after"]) <= 60  # the first upload leaves the minute within it
    assert upload(4, upload_priority="true").status_code == 200  # priority uploads are never held back

    kept = sorted((data / "outbox" / "normal").glob("*.jpg")) + sorted((data / "outbox" / "priority").glob("*.jpg"))
    assert sorted(p.read_bytes() for p in kept) == sorted(jpeg(seed) for seed in (1, 2, 4))
    assert httpx.get(detector.url + "/health", timeout=5).status_code == 200
