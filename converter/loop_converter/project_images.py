"""Images of a model's project for a conversion: some to calibrate it, others (never the same) to check it.

The check uses the project's test images when it has some, topped up with annotated images the calibration does
not use (on a dozen test images one changed box moves the result by hundredths); without test images a quarter of
the annotated images is held back from calibration for it. Projects without annotated images lend any of their
images. Ids that are not plain names are left out (they become file names).
"""

from __future__ import annotations

import logging
from pathlib import Path

from loop_shared.errors import LoopError
from loop_shared.loop_api import IMAGES_PER_REQUEST, ProjectApi
from loop_shared.names import is_safe_name

log = logging.getLogger("converter.images")


async def _ids(api: ProjectApi) -> list[str]:
    for state in ("complete", None):
        ids = await api.image_ids(state)
        if ids:
            return [i for i in ids if is_safe_name(i)]
    return []


async def _test_ids(api: ProjectApi, ids: list[str]) -> set[str]:
    tests: set[str] = set()
    for start in range(0, len(ids), IMAGES_PER_REQUEST):
        tests |= {i.id for i in await api.images(ids[start:start + IMAGES_PER_REQUEST]) if i.set == "test"}
    return tests


async def _download(api: ProjectApi, ids: list[str], directory: Path) -> list[Path]:
    paths = []
    for image_id in ids:
        try:
            paths.append(await api.download_image(image_id, directory))
        except LoopError as e:
            log.warning("image %s not downloadable: %s", image_id, e)
    return paths


async def project_images(api: ProjectApi, directory: Path, calibration: int,
                         evaluation: int) -> tuple[list[Path], list[Path]]:
    """(calibration images, evaluation images), at most `calibration` and `evaluation` of them; the Loop being
    unreachable or the project empty gives fewer, or none."""
    if calibration <= 0 and evaluation <= 0:
        return [], []
    try:
        ids = await _ids(api)
        tests = await _test_ids(api, ids) if evaluation > 0 else set()
    except LoopError as e:
        log.warning("no images from %s/%s for the conversion: %s", api.org, api.project, e)
        return [], []
    if tests:
        checking = [i for i in ids if i in tests][:evaluation]
        others = [i for i in ids if i not in tests]
        calibrating = others[:calibration]
        checking += others[len(calibrating):][:evaluation - len(checking)]
    else:
        held_back = min(evaluation, len(ids) // 4) if evaluation > 0 else 0
        checking, calibrating = ids[len(ids) - held_back:], ids[:len(ids) - held_back][:calibration]
    return (await _download(api, calibrating, directory / "calibration"),
            await _download(api, checking, directory / "evaluation"))
