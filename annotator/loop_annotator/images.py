"""The images people annotate: downloaded once from the Loop, kept decoded in memory and as files on disk.

Files go to `LOOP_DATA_DIR/{org}/{project}/images/{uuid}.jpg`, as the reference annotator keeps them; the oldest
files beyond `LOOP_IMAGE_DISK_FILES` are deleted. Decoded images (RGB) stay in memory within
`LOOP_IMAGE_MEMORY_MB`, least recently used dropped first. Two people who open the same image at once cause one
download. Names from the input are checked (`loop_shared.names`) before they reach a path.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from loop_shared.errors import LoopError, LoopNotFoundError
from loop_shared.loop_api import ProjectApi
from loop_shared.names import safe_name

log = logging.getLogger("annotator.images")
Key = tuple[str, str, str]


class ImageUnavailable(Exception):
    """The image cannot be had (unknown to the Loop, not an image, the Loop unreachable); one line for a person."""


def decode(path: Path) -> np.ndarray:
    data = np.fromfile(path, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        path.unlink(missing_ok=True)
        raise ImageUnavailable(f"image {path.stem} is not a JPEG or PNG the annotator can read")
    rgb: np.ndarray = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb


class ImageCache:
    def __init__(self, data_dir: Path, project_api: Callable[[str, str], ProjectApi], max_bytes: int,
                 max_files: int) -> None:
        self.data_dir, self._project_api = data_dir, project_api
        self.max_bytes, self.max_files = max_bytes, max_files
        self._decoded: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._pending: dict[Key, asyncio.Future[np.ndarray]] = {}
        self.downloads = 0
        self._bytes = 0  # kept as images come and go: /metrics reads it from another thread

    @property
    def memory_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._decoded)

    async def get(self, organization: str, project: str, image_uuid: str) -> np.ndarray:
        key = (safe_name(organization, "organization"), safe_name(project, "project"),
               safe_name(image_uuid, "image_uuid"))
        image = self._decoded.get(key)
        if image is not None:
            self._decoded.move_to_end(key)
            return image
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            image = await self._load(key)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved here: nobody else may be waiting for it
            raise
        finally:
            del self._pending[key]
        future.set_result(image)
        self._keep(key, image)
        return image

    async def _load(self, key: Key) -> np.ndarray:
        organization, project, image_uuid = key
        folder = self.data_dir / organization / project / "images"
        path = folder / f"{image_uuid}.jpg"
        if not path.exists():
            try:
                await self._project_api(organization, project).download_image(image_uuid, folder)
            except LoopNotFoundError:
                raise ImageUnavailable(f"the Loop has no image {image_uuid} in {organization}/{project}") from None
            except LoopError as e:
                raise ImageUnavailable(f"cannot download image {image_uuid}: {e}") from None
            self.downloads += 1
            await asyncio.to_thread(self._prune_files)
        return await asyncio.to_thread(decode, path)

    def _keep(self, key: Key, image: np.ndarray) -> None:
        if key not in self._decoded:
            self._bytes += int(image.nbytes)
        self._decoded[key] = image
        self._decoded.move_to_end(key)
        while len(self._decoded) > 1 and self._bytes > self.max_bytes:
            _, dropped = self._decoded.popitem(last=False)
            self._bytes -= int(dropped.nbytes)

    def _prune_files(self) -> None:
        files = [p for p in self.data_dir.glob("*/*/images/*.jpg") if p.is_file()]
        if len(files) <= self.max_files:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for path in files[:len(files) - self.max_files]:
            path.unlink(missing_ok=True)
        log.info("deleted %d old image files (keeping %d)", len(files) - self.max_files, self.max_files)
