"""Building and swapping models: the best format the Loop has, failure pauses, fallbacks (fake Loop API)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loop_detector.errors import NotReadyError, ReloadError
from tests.detector.deployment_kit import ORG, PROJECT, deployment, publish
from tests.fake_loop import FakeLoop

TARGET = {"id": "m1", "version": "1.0"}


async def test_serves_the_best_format_the_loop_has_and_upgrades_when_a_better_one_appears(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0", {"onnx": b"weights"})
    d = deployment(tmp_path, loop)
    switch = d.switch
    assert await switch.update(TARGET)
    assert switch.serving_format() == "onnx" and switch.current_version() == "1.0"
    assert not switch.serves_best(TARGET)
    publish(project, "m1", "1.0", {"onnx": b"weights", "onnx_int8": b"weights"})  # a converter finished
    assert await switch.update(TARGET)
    assert switch.serving_format() == "onnx_int8" and switch.serves_best(TARGET)
    assert (d.cache.models_dir / "1.0__m1__onnx_int8" / "model.json").exists()
    assert d.state.current_dir() == "1.0__m1__onnx_int8"  # what a restart serves again


async def test_a_broken_package_is_paused_and_the_next_format_serves(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0", {"onnx_int8": b"broken", "onnx": b"weights"})
    d = deployment(tmp_path, loop)
    await d.switch.update(TARGET)
    assert d.switch.serving_format() == "onnx"
    assert d.metrics.model_failures._value.get() == 1
    assert "update_model" not in d.errors  # the fallback serves: nothing left to report
    assert not (d.cache.models_dir / "1.0__m1__onnx_int8").exists()  # a failed build leaves no folder
    downloads = project.calls.count("download_model")
    await d.switch.update(TARGET)  # the broken format waits out its pause: not fetched again
    assert project.calls.count("download_model") == downloads
    d.switch.forget_failures("m1")  # a person pinned the model again: try at once
    await d.switch.update(TARGET)
    assert project.calls.count("download_model") == downloads + 1


async def test_a_listed_format_the_loop_cannot_serve_is_skipped(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0", {"onnx_int8": b"weights", "onnx": b"weights"})
    del project.packages[("m1", "onnx_int8")]  # listed, but a 404 on download
    d = deployment(tmp_path, loop)
    await d.switch.update(TARGET)
    assert d.switch.serving_format() == "onnx" and "update_model" not in d.errors
    assert d.metrics.model_failures._value.get() == 0  # a missing format is no failure to pause for


async def test_a_model_in_none_of_the_wanted_formats_is_reported(tmp_path: Path) -> None:
    loop = FakeLoop()
    publish(loop.project(ORG, PROJECT), "m1", "1.0", {"tensorrt": b"weights"})
    d = deployment(tmp_path, loop)
    assert await d.switch.update(TARGET)
    assert d.switch.current_version() is None
    assert d.errors["update_model"] == ("the Loop has model 1.0 in tensorrt format, none of LOOP_MODEL_FORMATS "
                                        "(onnx_int8, onnx)")


async def test_a_model_that_does_not_load_in_any_format_is_reported_and_nothing_else_changes(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = loop.project(ORG, PROJECT)
    publish(project, "m1", "1.0", {"onnx": b"weights"})
    publish(project, "m2", "1.1", {"onnx": b"broken"})
    d = deployment(tmp_path, loop)
    await d.switch.update(TARGET)
    await d.switch.update({"id": "m2", "version": "1.1"})
    assert d.switch.current_version() == "1.0"  # still serving the old one
    assert "model 1.1 (m2) in onnx: RuntimeError: the model does not load" in d.errors["update_model"]


async def test_a_reload_builds_a_new_logic_from_the_files_as_they_are_now_and_keeps_the_folder(tmp_path: Path) -> None:
    loop = FakeLoop()
    publish(loop.project(ORG, PROJECT), "m1", "1.0", {"onnx": b"weights"})
    d = deployment(tmp_path, loop)
    await d.switch.update(TARGET)
    before = d.engine.active
    assert before is not None and [c.name for c in before.info.categories] == []
    model_json = before.directory / "model.json"
    info = json.loads(model_json.read_text())
    model_json.write_text(json.dumps({**info, "categories": [{"id": "c1", "name": "cat", "type": "box"}]}))
    served = await d.reload()
    assert served is d.engine.active and served.logic is not before.logic
    assert [c.name for c in served.info.categories] == ["cat"]  # model.json was read again
    assert before.retired and served.directory == before.directory and served.format == "onnx"
    assert d.building is None and d.state.current_dir() == before.directory.name


async def test_a_reload_whose_files_do_not_load_answers_an_error_and_the_loaded_model_serves_on(
        tmp_path: Path) -> None:
    loop = FakeLoop()
    publish(loop.project(ORG, PROJECT), "m1", "1.0", {"onnx": b"weights"})
    d = deployment(tmp_path, loop)
    await d.switch.update(TARGET)
    before = d.engine.active
    assert before is not None
    (before.directory / "model.onnx").write_bytes(b"broken")
    with pytest.raises(ReloadError) as refused:
        await d.reload()
    assert str(refused.value) == ("reloading model 1.0 from its files failed: RuntimeError: the model does not load; "
                                  "the model loaded before keeps serving")
    assert d.engine.active is before and not before.retired
    assert before.directory.exists() and d.building is None  # a reload never deletes the served model's files


async def test_a_reload_with_no_model_served_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(NotReadyError, match="nothing to reload"):
        await deployment(tmp_path).reload()
