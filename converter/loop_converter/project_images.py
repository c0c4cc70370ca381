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
from loop_shared.loop_client import LoopClient
from loop_shared.names import is_safe_name

log = logging.getLogger("converter.images")
CHUNK = 100


async def _ids(client: LoopClient, base: str) -> list[str]:
    for state in ("complete", None):
        data = await client.get_json(f"{base}/data", params={"state": state} if state else {})
        ids = data.get("image_ids", []) if isinstance(data, dict) else []
        if ids:
            return [i for i in ids if is_safe_name(i)]
    return []


async def _test_ids(client: LoopClient, base: str, ids: list[str]) -> set[str]:
    tests: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        data = await client.get_json(f"{base}/images", params={"ids": ",".join(ids[start:start + CHUNK])})
        tests |= {i["id"] for i in (data.get("images", []) if isinstance(data, dict) else [])
                  if isinstance(i, dict) and i.get("set") == "test"}
    return tests


async def _download(client: LoopClient, base: str, ids: list[str], directory: Path) -> list[Path]:
    paths = []
    for image_id in ids:
        try:
            paths.append(await client.download(f"{base}/images/{image_id}/main", directory,
                                               filename=f"{image_id}.jpg", requires_login=True))
        except LoopError as e:
            log.warning("image %s not downloadable: %s", image_id, e)
    return paths


async def project_images(client: LoopClient, org: str, project: str, directory: Path, calibration: int,
                         evaluation: int) -> tuple[list[Path], list[Path]]:
    """(calibration images, evaluation images), at most `calibration` and `evaluation` of them; the Loop being
    unreachable or the project empty gives fewer, or none."""
    base = f"/{org}/projects/{project}"
    if calibration <= 0 and evaluation <= 0:
        return [], []
    try:
        ids = await _ids(client, base)
        tests = await _test_ids(client, base, ids) if evaluation > 0 else set()
    except LoopError as e:
        log.warning("no images from %s/%s for the conversion: %s", org, project, e)
        return [], []
    if tests:
        checking = [i for i in ids if i in tests][:evaluation]
        others = [i for i in ids if i not in tests]
        calibrating = others[:calibration]
        checking += others[len(calibrating):][:evaluation - len(checking)]
    else:
        held_back = min(evaluation, len(ids) // 4) if evaluation > 0 else 0
        checking, calibrating = ids[len(ids) - held_back:], ids[:len(ids) - held_back][:calibration]
    return (await _download(client, base, calibrating, directory / "calibration"),
            await _download(client, base, checking, directory / "evaluation"))
