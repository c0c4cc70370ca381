"""Following the target, version control and the status reports, against the fake Loop API (no processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loop_detector.deployment import VersionError
from loop_shared.errors import LoopUnavailableError
from loop_shared.loop_api import DeploymentTarget
from loop_shared.schemas import OperationMode, VersionMode
from tests.detector.deployment_kit import ORG, PROJECT, deploy, deployment, publish
from tests.fake_loop import FakeLoop


async def test_follows_the_loops_target_and_reports_what_it_serves(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0")
    deploy(project, "m1", "1.0")
    d = deployment(tmp_path, loop)
    await d.check()
    assert d.current_version() == "1.0" and d.serving_format() == "onnx"
    assert d.target == {"id": "m1", "version": "1.0"} and d.loop_target == d.target
    assert project.detector_reports[-1].current_model == "1.0"
    publish(project, "m2", "1.1")
    deploy(project, "m2", "1.1")
    await d.check()
    assert d.current_version() == "1.1" and d.errors == {}


async def test_no_target_yet_is_no_error_and_an_unreachable_loop_is_one(tmp_path: Path) -> None:
    loop = FakeLoop()
    d = deployment(tmp_path, loop)
    await d.check()
    assert d.current_version() is None and d.errors == {}
    loop.project(ORG, PROJECT).fail("deployment_target", LoopUnavailableError("connection refused"))
    await d.poll_once()
    assert "connection refused" in d.errors["deployment_target"]
    assert d.health.tasks["deployment"].consecutive_failures == 1
    await d.poll_once()  # the Loop is back; the error goes
    assert "deployment_target" not in d.errors and d.health.tasks["deployment"].consecutive_failures == 0


async def test_a_target_that_names_a_path_is_ignored(tmp_path: Path) -> None:
    loop = FakeLoop()
    loop.project(ORG, PROJECT).target = DeploymentTarget(model_uuid="../../victim", version="1.0")
    d = deployment(tmp_path, loop)
    await d.check()
    assert d.target is None and "model_uuid" in d.errors["deployment_target"]


async def test_pause_keeps_what_serves_and_the_mode_survives_a_restart(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0")
    deploy(project, "m1", "1.0")
    d = deployment(tmp_path, loop)
    await d.check()
    await d.set_version_mode("pause")
    publish(project, "m2", "1.1")
    deploy(project, "m2", "1.1")
    await d.check()
    assert d.current_version() == "1.0" and d.target == {"id": "m1", "version": "1.0"}
    publish(project, "m1", "1.0", {"onnx": b"weights", "onnx_int8": b"weights"})  # not even a better format
    await d.check()
    assert d.serving_format() == "onnx"
    again = deployment(tmp_path, FakeLoop())  # a restart, the Loop away
    assert again.version_control == VersionMode.PAUSE and again.target == {"id": "m1", "version": "1.0"}
    await again.switch.load_cached()
    assert again.current_version() == "1.0"


async def test_a_version_number_pins_its_model(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0")
    publish(project, "m2", "1.1")
    deploy(project, "m2", "1.1")
    d = deployment(tmp_path, loop)
    await d.set_version_mode("1.0")
    await d.check()
    assert d.version_control == VersionMode.SPECIFIC_VERSION and d.current_version() == "1.0"
    response = d.version_response()
    assert (response.current_version, response.target_version, response.loop_version) == ("1.0", "1.0", "1.1")
    with pytest.raises(VersionError, match="Invalid version"):
        await d.set_version_mode("latest")
    with pytest.raises(VersionError, match=r"No Model with version 2\.0"):
        await d.set_version_mode("2.0")
    await d.set_version_mode('"follow_loop"')
    await d.check()
    assert d.current_version() == "1.1"


async def test_the_operation_mode_is_reported_at_once(tmp_path: Path) -> None:
    loop = FakeLoop()
    d = deployment(tmp_path, loop)
    await d.set_operation_mode(OperationMode.DETECTING)
    await d.set_operation_mode(OperationMode.DETECTING)  # no change, no report
    for _ in range(100):
        if loop.project(ORG, PROJECT).detector_reports:
            break
        await asyncio.sleep(0.01)
    reports = loop.project(ORG, PROJECT).detector_reports
    assert [r.operation_mode for r in reports] == ["detecting"]
    loop.project(ORG, PROJECT).fail("report_detector", LoopUnavailableError("down"))
    assert not await d.sync_status()
