"""The images a conversion calibrates on and is checked on, fetched from a stub Loop process."""

from __future__ import annotations

from pathlib import Path

import httpx

from loop_converter.project_images import project_images
from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.settings import NodeSettings, load_settings
from loop_testkit.processes import Service
from tests.conftest import ORG, PASSWORD, USERNAME


async def test_the_check_takes_the_test_images_then_what_the_calibration_left(
        stub: Service, loop: httpx.Client, tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "few", "complete": 20, "box_categories": 1,
                                                  "test_fraction": 0.2})
    ids = loop.get(f"/{ORG}/projects/few/data", params={"state": "complete"}).json()["image_ids"]
    images = loop.get(f"/{ORG}/projects/few/images", params={"ids": ",".join(ids)}).json()["images"]
    tests = {i["id"] for i in images if i["set"] == "test"}
    others = [i for i in ids if i not in tests]
    assert 2 <= len(tests) <= 8
    client = LoopClient(load_settings(NodeSettings, host=f"127.0.0.1:{stub.port}", username=USERNAME,
                                      password=PASSWORD))
    try:
        calibration, check = await project_images(LoopApi(client).project(ORG, "few"), tmp_path, calibration=8,
                                                  evaluation=12)
        # every test image, then the annotated images after the calibration's, up to 12; none in both
        assert [p.stem for p in calibration] == others[:8]
        assert [p.stem for p in check] == [i for i in ids if i in tests] + others[8:8 + 12 - len(tests)]
        assert not {p.stem for p in calibration} & {p.stem for p in check}
        # enough test images: only those
        _, check = await project_images(LoopApi(client).project(ORG, "few"), tmp_path / "b", calibration=8,
                                     evaluation=2)
        assert [p.stem for p in check] == [i for i in ids if i in tests][:2]
    finally:
        await client.close()
