"""Models on disk: which formats the Loop has of a model, downloading and unpacking one, and what is cached.

Each package is unpacked once to `models/{version}__{id[:8]}__{format}`, the name built only from names
`loop_shared.names` accepted. A cached package is used again when its model.json names the same model id.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from loop_shared.errors import LoopError, LoopNotFoundError, ModelPackageError
from loop_shared.loop_api import ProjectApi
from loop_shared.model_package import SHARED_VOLUME_GRACE, extract_package, read_model_info, remove_partial_writes
from loop_shared.names import inside

log = logging.getLogger("detector.models")


class FormatMissing(Exception):
    """The Loop has no package of this model in this format (yet)."""


class ModelCache:
    def __init__(self, models_dir: Path, api: ProjectApi) -> None:
        self.models_dir, self.api = models_dir, api
        self.staging = models_dir / ".downloads"
        models_dir.mkdir(parents=True, exist_ok=True)
        # downloads a kill interrupted; replicas may share the volume, so only old ones
        remove_partial_writes(self.staging, older_than=SHARED_VOLUME_GRACE)

    def directory(self, target: dict[str, str], fmt: str) -> Path:
        return inside(self.models_dir, self.models_dir / f"{target['version']}__{target['id'][:8]}__{fmt}")

    @staticmethod
    def cached(directory: Path, model_id: str) -> bool:
        try:
            return read_model_info(directory).id == model_id
        except ModelPackageError:
            return False

    async def formats_on_loop(self, target: dict[str, str]) -> list[str] | None:
        """The formats the Loop lists for the target model; None when its listing does not say (then every
        preferred format is simply tried)."""
        try:
            model = (await self.api.models()).find(target["id"])
        except LoopError as e:
            log.debug("cannot list the Loop's models: %s", e)
            return None
        return model.formats if model is not None else None

    async def fetch(self, target: dict[str, str], fmt: str) -> Path:
        """The unpacked package of `target` in `fmt`, downloaded unless cached; FormatMissing on a 404."""
        directory = self.directory(target, fmt)
        if self.cached(directory, target["id"]):
            return directory
        log.info("downloading model %s in format %s", target["version"], fmt)
        try:
            archive = await self.api.download_model(target["id"], fmt, self.staging, f"{target['id']}.{fmt}.zip")
        except LoopNotFoundError as e:
            raise FormatMissing(f"the Loop has no {fmt} package of model {target['version']}") from e
        try:
            await asyncio.to_thread(extract_package, archive, directory)
        finally:
            archive.unlink(missing_ok=True)
        return directory

    def local_versions(self) -> list[str]:
        return sorted({d.name.split("__")[0] for d in self.models_dir.iterdir()
                       if d.is_dir() and "__" in d.name and (d / "model.json").exists()})
