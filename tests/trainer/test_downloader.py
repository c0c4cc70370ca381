"""Downloading training data from a stub Loop process: resumable, bounded, corrupt images dropped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.settings import NodeSettings, load_settings
from loop_testkit.processes import Service
from loop_trainer.downloader import Downloader, _has_jpeginfo, image_is_valid
from tests.conftest import ORG, PASSWORD, USERNAME


async def test_downloads_skip_existing_files_and_drop_corrupt_images(
        stub: Service, loop: httpx.Client, stub_env: dict[str, str], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "dl", "complete": 12, "box_categories": 1})
    ids = loop.get(f"/{ORG}/projects/dl/data", params={"state": "complete"}).json()["image_ids"]
    broken = Path(stub_env["LOOP_DATA_DIR"]) / "images" / f"{ids[3]}.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated JPEG on the Loop
    settings = load_settings(NodeSettings, host=f"127.0.0.1:{stub.port}", username=USERNAME, password=PASSWORD)
    client = LoopClient(settings)
    downloader = Downloader(LoopApi(client).project(ORG, "dl"), tmp_path / "images", concurrency=3)
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


FAKE_JPEGINFO = """#!/bin/sh
# a stand-in for jpeginfo -c: answers as Debian's jpeginfo 1.7 does (OK padded with spaces, or a complaint), and
# records that it ran
PATH=/usr/bin:/bin
echo "$2" >> "$(dirname "$0")/calls"
if grep -q BROKEN "$2"; then
  echo "$2  8 x 8  24bit JFIF  N  631  Corrupt JPEG data: premature end of data segment  [WARNING]"
  exit 1
fi
echo "$2                        8 x    8 24bit N JFIF                         631 OK      "
"""


def jpeg() -> bytes:
    return cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory that is all of PATH; what `jpeginfo` means depends on what the test puts there."""
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))
    _has_jpeginfo.cache_clear()
    yield tools
    _has_jpeginfo.cache_clear()


def test_jpeginfo_decides_when_it_is_installed(tmp_path: Path, on_path: Path) -> None:
    fake = on_path / "jpeginfo"
    fake.write_text(FAKE_JPEGINFO)
    fake.chmod(0o755)
    images = tmp_path / "OK"  # a directory whose name holds "OK" must not make every image pass
    images.mkdir()
    good, broken = images / "good.jpg", images / "broken.jpg"
    good.write_bytes(jpeg())
    broken.write_bytes(jpeg() + b"BROKEN")  # decodes fine: only jpeginfo can call it corrupt
    assert image_is_valid(good)
    assert not image_is_valid(broken)
    assert (on_path / "calls").read_text().split() == [str(good), str(broken)]


def test_decoding_decides_without_jpeginfo(tmp_path: Path, on_path: Path) -> None:
    good, truncated, empty = tmp_path / "good.jpg", tmp_path / "truncated.jpg", tmp_path / "empty.jpg"
    good.write_bytes(jpeg())
    truncated.write_bytes(jpeg()[:20])
    empty.write_bytes(b"")
    assert image_is_valid(good) and not image_is_valid(truncated) and not image_is_valid(empty)
