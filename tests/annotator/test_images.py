"""The image cache (loop_annotator/images.py): one download per image, bounded memory and files, clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loop_annotator.images import ImageCache, ImageUnavailable
from loop_shared.errors import LoopNotFoundError, LoopUnavailableError
from loop_shared.names import UnsafeNameError
from loop_testkit.scenes import encode_jpeg

ORG, PROJECT = "zauberzeug", "annotate"


class Project:
    def __init__(self, jpegs: dict[str, bytes], failure: Exception | None = None) -> None:
        self.jpegs, self.failure, self.calls = jpegs, failure, 0

    async def download_image(self, image_id: str, dest_dir: Path) -> Path:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.failure is not None:
            raise self.failure
        if image_id not in self.jpegs:
            raise LoopNotFoundError(f"no image {image_id}", 404)
        dest_dir.mkdir(parents=True, exist_ok=True)
        (dest_dir / f"{image_id}.jpg").write_bytes(self.jpegs[image_id])
        return dest_dir / f"{image_id}.jpg"


def cache(tmp_path: Path, project: Project, max_bytes: int = 10**9, max_files: int = 100) -> ImageCache:
    def project_api(org: str, name: str) -> Any:
        assert (org, name) == (ORG, PROJECT)
        return project
    return ImageCache(tmp_path, project_api, max_bytes, max_files)


def jpeg(value: int, width: int = 64, height: int = 48) -> bytes:
    return encode_jpeg(np.full((height, width, 3), value, np.uint8))


async def test_an_image_is_downloaded_once_even_when_two_people_open_it_at_once(tmp_path: Path) -> None:
    project = Project({"a": jpeg(200)})
    images = cache(tmp_path, project)
    first, second = await asyncio.gather(images.get(ORG, PROJECT, "a"), images.get(ORG, PROJECT, "a"))
    again = await images.get(ORG, PROJECT, "a")
    assert project.calls == 1 and images.downloads == 1
    assert first.shape == (48, 64, 3) and first is second is again
    assert (tmp_path / ORG / PROJECT / "images" / "a.jpg").is_file()


async def test_a_file_on_disk_is_used_without_a_download(tmp_path: Path) -> None:
    folder = tmp_path / ORG / PROJECT / "images"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(jpeg(10))
    project = Project({})
    assert (await cache(tmp_path, project).get(ORG, PROJECT, "a")).shape == (48, 64, 3)
    assert project.calls == 0


async def test_unknown_unreadable_and_unreachable_images_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageUnavailable, match="the Loop has no image nope in zauberzeug/annotate"):
        await cache(tmp_path, Project({})).get(ORG, PROJECT, "nope")
    with pytest.raises(ImageUnavailable, match="not a JPEG or PNG"):
        await cache(tmp_path, Project({"bad": b"not an image"})).get(ORG, PROJECT, "bad")
    assert not (tmp_path / ORG / PROJECT / "images" / "bad.jpg").exists()  # not kept: a retry downloads it again
    with pytest.raises(ImageUnavailable, match=r"cannot download image x: .*down"):
        await cache(tmp_path, Project({}, LoopUnavailableError("the Loop is down"))).get(ORG, PROJECT, "x")


async def test_names_that_could_leave_the_data_directory_are_refused(tmp_path: Path) -> None:
    project = Project({})
    for org, name, image in ((ORG, PROJECT, "../../etc/passwd"), ("..", PROJECT, "a"), (ORG, "a/b", "a")):
        with pytest.raises(UnsafeNameError):
            await cache(tmp_path, project).get(org, name, image)
    assert project.calls == 0


async def test_decoded_images_stay_within_the_memory_budget_and_files_within_their_count(tmp_path: Path) -> None:
    project = Project({str(i): jpeg(i * 20) for i in range(5)})
    one = 64 * 48 * 3
    images = cache(tmp_path, project, max_bytes=2 * one, max_files=3)
    for i in range(5):
        await images.get(ORG, PROJECT, str(i))
    assert len(images) == 2 and images.memory_bytes == 2 * one
    assert len(list((tmp_path / ORG / PROJECT / "images").glob("*.jpg"))) == 3
