"""Downloading training data from a stub Loop process: resumable, bounded, corrupt images dropped."""

from __future__ import annotations

from pathlib import Path

import httpx

from loop_shared.loop_client import LoopClient
from loop_shared.settings import NodeSettings, load_settings
from loop_trainer.downloader import Downloader, image_is_valid
from tests.conftest import ORG, PASSWORD, USERNAME
from tests.processes import Service


async def test_downloads_skip_existing_files_and_drop_corrupt_images(
        stub: Service, loop: httpx.Client, stub_env: dict[str, str], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "dl", "complete": 12, "box_categories": 1})
    ids = loop.get(f"/{ORG}/projects/dl/data", params={"state": "complete"}).json()["image_ids"]
    broken = Path(stub_env["LOOP_DATA_DIR"]) / "images" / f"{ids[3]}.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated JPEG on the Loop
    settings = load_settings(NodeSettings, host=f"127.0.0.1:{stub.port}", username=USERNAME, password=PASSWORD)
    client = LoopClient(settings)
    downloader = Downloader(client, ORG, "dl", tmp_path / "images", concurrency=3)
    progress: list[float] = []
    try:
        assert await downloader.image_ids("complete") == ids
        data = await downloader.image_data(ids)
        assert [d["id"] for d in data] == ids
        corrupt, failed = await downloader.images(ids, progress.append)
        assert (corrupt, failed) == (1, 0)
        assert sorted(p.stem for p in (tmp_path / "images").glob("*.jpg")) == sorted(set(ids) - {ids[3]})
        assert progress[-1] == 1.0
        before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "images").glob("*.jpg")}
        assert await downloader.images(ids) == (1, 0)  # only the corrupt one is fetched (and dropped) again
        assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "images").glob("*.jpg")} == before
    finally:
        await client.close()


def test_decode_check_without_jpeginfo(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    import cv2
    import numpy as np
    good.write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert image_is_valid(good) and not image_is_valid(empty)
