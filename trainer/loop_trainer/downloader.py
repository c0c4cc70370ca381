"""Fetch image ids, image data (100 per request) and image files (a bounded number at once).

Files already on disk are not fetched again; each lands atomically. Corrupt images are dropped, checked with
`jpeginfo -c` when it is installed (as the reference does) and by decoding otherwise; drops are counted. An image
id that is not a plain name (it becomes a file name) is left out with a warning.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from loop_shared.errors import LoopResponseError
from loop_shared.loop_api import IMAGES_PER_REQUEST, ProjectApi
from loop_shared.model_package import remove_partial_writes
from loop_shared.names import inside, is_safe_name

log = logging.getLogger("trainer.downloader")


@functools.cache
def _has_jpeginfo() -> bool:
    return shutil.which("jpeginfo") is not None


def image_is_valid(path: Path) -> bool:
    if path.stat().st_size == 0:
        return False
    if _has_jpeginfo():
        result = subprocess.run(["jpeginfo", "-c", str(path)], capture_output=True, text=True, timeout=30)
        # its verdict closes the line ("OK", padded; "[OK]" in some versions); the line starts with the path,
        # which may well hold "OK" itself
        words = result.stdout.split()
        return result.returncode == 0 and bool(words) and words[-1] in ("OK", "[OK]")
    return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR) is not None


class Downloader:
    def __init__(self, api: ProjectApi, images_dir: Path, concurrency: int) -> None:
        self.api = api
        self.images_dir, self.concurrency = images_dir, concurrency
        self.progress = 0.0
        images_dir.mkdir(parents=True, exist_ok=True)

    async def image_ids(self, state: str) -> list[str]:
        ids = await self.api.image_ids(state)
        usable = [i for i in ids if is_safe_name(i)]
        if len(usable) < len(ids):
            log.warning("left out %d image ids that cannot be file names, e.g. %r", len(ids) - len(usable),
                        str(next(i for i in ids if not is_safe_name(i)))[:80])
        return usable

    async def image_data(self, ids: list[str],
                         on_progress: Callable[[float], None] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(ids), IMAGES_PER_REQUEST):
            chunk = ids[start:start + IMAGES_PER_REQUEST]
            items.extend(image.as_dict() for image in await self.api.images(chunk))
            if on_progress:
                on_progress(min(1.0, (start + len(chunk)) / max(1, len(ids))))
        return items

    def path(self, image_id: str) -> Path:
        return inside(self.images_dir, self.images_dir / f"{image_id}.jpg")

    async def images(self, ids: list[str], on_progress: Callable[[float], None] | None = None) -> tuple[int, int]:
        """Download what is missing; returns (dropped as corrupt, not downloadable)."""
        removed = await asyncio.to_thread(remove_partial_writes, self.images_dir)
        if removed:
            log.info("deleted %d partial downloads a kill had left", removed)
        missing = [i for i in ids if not self.path(i).exists()]
        log.info("%d of %d images already on disk; downloading %d", len(ids) - len(missing), len(ids), len(missing))
        semaphore = asyncio.Semaphore(self.concurrency)
        done = corrupt = failed = 0

        async def fetch(image_id: str) -> None:
            nonlocal done, corrupt, failed
            async with semaphore:
                try:
                    path = await self.api.download_image(image_id, self.images_dir)
                except LoopResponseError as e:
                    log.warning("image %s not downloadable: %s", image_id, e)
                    failed += 1
                    return
                if not await asyncio.to_thread(image_is_valid, path):
                    os.unlink(path)
                    corrupt += 1
                    log.warning("dropped corrupt image %s", image_id)
                done += 1
                if on_progress and (done % 50 == 0 or done == len(missing)):
                    on_progress(done / max(1, len(missing)))
                    log.info("downloaded %d/%d images", done, len(missing))

        await asyncio.gather(*(fetch(i) for i in missing))
        return corrupt, failed
