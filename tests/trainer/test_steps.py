"""Each training step on its own, against the fake Loop API (tests/fake_loop.py) and an in-process child."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loop_shared.errors import LoopConflictError, LoopNotFoundError, LoopUnavailableError
from loop_shared.schemas import Detections
from loop_trainer.runner import ChildFailed, ChildRefused
from loop_trainer.steps import PermanentError, base_model, detecting, detections_upload, metrics, model_upload, prepare
from loop_trainer.steps import training as training_step
from tests.e2e.plugins import InstantTrainer
from tests.fake_loop import FakeLoop
from tests.trainer.steps_kit import ORG, PROJECT, InProcessChild, Published, context, model_zip, project_with_images
from tests.trainer.steps_kit import record as make_record


async def test_prepare_keeps_the_images_of_a_set_and_counts_the_rest(tmp_path: Path) -> None:
    loop = FakeLoop()
    project = project_with_images(loop, {"a": "train", "b": "val", "c": "test", "d": None, "gone": "train"})
    del project.jpegs["gone"]  # listed, but not downloadable
    project_with_images(loop, {"inbox-1": "train"}, state="inbox")  # not complete: not for training
    ctx = context(tmp_path, loop)
    await prepare.run(ctx)
    usable = json.loads((ctx.training_dir / "image_data.json").read_text())
    assert [d["id"] for d in usable] == ["a", "b", "c"]
    assert usable[0] == {"id": "a", "state": "complete", "set": "train", "width": 16, "height": 16}  # as sent
    r = ctx.record
    assert (r.image_count, r.train_image_count, r.test_image_count, r.missing_images) == (3, 2, 1, 2)
    assert sorted(p.name for p in ctx.paths.images_dir(r).iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


async def test_prepare_without_training_images_is_permanent(tmp_path: Path) -> None:
    loop = FakeLoop()
    project_with_images(loop, {"t": "test"})
    with pytest.raises(PermanentError, match="no usable training images"):
        await prepare.run(context(tmp_path, loop))


async def test_the_base_model_is_unpacked_and_a_missing_one_is_permanent(tmp_path: Path) -> None:
    loop = FakeLoop()
    await base_model.run(ctx := context(tmp_path, loop))  # no base model: nothing asked
    assert loop.project(ORG, PROJECT).calls == []
    loop.project(ORG, PROJECT).packages[("base", "onnx")] = model_zip()
    ctx = context(tmp_path, loop, make_record(base_model_uuid="base"))
    await base_model.run(ctx)
    assert (ctx.training_dir / "base_model" / "model.onnx").read_bytes() == b"weights"
    assert not (ctx.training_dir / "base_model.zip").exists()
    with pytest.raises(PermanentError, match="cannot be downloaded"):
        await base_model.run(context(tmp_path, loop, make_record(base_model_uuid="other")))


async def test_a_crashing_training_is_retried_until_max_crashes(tmp_path: Path) -> None:
    child = InProcessChild(InstantTrainer())
    child.errors = [ChildFailed("boom"), ChildFailed("boom again"), ChildFailed("and again")]
    ctx = context(tmp_path, FakeLoop(), run_child=child)
    ctx.training_dir.mkdir(parents=True)
    for _ in range(2):
        with pytest.raises(ChildFailed):
            await training_step.run(ctx)
    with pytest.raises(PermanentError, match="crashed 3 times"):
        await training_step.run(ctx)
    assert ctx.record.crashes == 3 and child.runs[0][0] == "train"


async def test_a_refused_training_is_permanent_and_a_good_one_leaves_a_model(tmp_path: Path) -> None:
    ctx = context(tmp_path, FakeLoop())
    (ctx.training_dir).mkdir(parents=True)
    (ctx.training_dir / "image_data.json").write_text("[]")
    await training_step.run(ctx)
    assert (ctx.training_dir / "output" / "model.onnx").exists()
    assert isinstance(ctx.run_child, InProcessChild)
    ctx.run_child.errors = [ChildRefused("no categories")]
    with pytest.raises(PermanentError, match="no categories"):
        await training_step.run(ctx)


async def test_metrics_are_published_once_per_best_epoch(tmp_path: Path) -> None:
    published = Published()
    ctx = context(tmp_path, FakeLoop(), make_record(best_metrics={"epoch": 4, "confusion_matrix": {}}),
                  publish_metrics=published)
    await metrics.run(ctx)
    await metrics.run(ctx)
    assert published.records == [4]


async def write_model(ctx: object) -> None:
    from loop_trainer.steps import StepContext
    assert isinstance(ctx, StepContext)
    output = ctx.training_dir / "output"
    output.mkdir(parents=True, exist_ok=True)
    (output / "model.onnx").write_bytes(b"weights")


async def test_each_format_is_uploaded_once_and_names_the_model(tmp_path: Path) -> None:
    loop = FakeLoop()
    ctx = context(tmp_path, loop)
    await write_model(ctx)
    await model_upload.run(ctx)
    await model_upload.run(ctx)  # a repeat after a restart: the format is done
    uploads = loop.project(ORG, PROJECT).model_uploads
    assert [(u["number"], u["format"], u["files"]) for u in uploads] == [(7, "onnx", ["model.onnx"])]
    assert uploads[0]["model_json"] == {"categories": [{"id": "c1", "name": "cat", "description": None,
                                                        "hotkey": None, "color": None, "point_size": None,
                                                        "type": "box"}], "resolution": 64}
    assert ctx.record.model_id == "model-7" and ctx.record.uploaded_formats == ["onnx"]


async def test_a_refused_upload_is_permanent_an_unavailable_loop_is_not(tmp_path: Path) -> None:
    loop = FakeLoop()
    ctx = context(tmp_path, loop)
    await write_model(ctx)
    loop.project(ORG, PROJECT).fail("upload_training_model", LoopUnavailableError("down", 503))
    with pytest.raises(LoopUnavailableError):
        await model_upload.run(ctx)
    loop.project(ORG, PROJECT).fail("upload_training_model", LoopConflictError("odd", 409))
    with pytest.raises(PermanentError, match="refused the onnx model"):
        await model_upload.run(ctx)
    assert ctx.record.uploaded_formats == []


async def test_no_model_files_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no model files"):
        await model_upload.run(context(tmp_path, FakeLoop()))


async def test_detecting_uses_the_uploaded_model_on_images_of_every_state(tmp_path: Path) -> None:
    loop = FakeLoop()
    project_with_images(loop, {"a": "train"})
    project_with_images(loop, {"i": None}, state="inbox")
    loop.project(ORG, PROJECT).packages[("model-7", "onnx")] = model_zip(id="model-7")
    with pytest.raises(PermanentError, match="no uploaded model"):
        await detecting.run(context(tmp_path, loop))
    ctx = context(tmp_path, loop, make_record(model_id="model-7", detections_uploaded=5))
    ctx.training_dir.mkdir(parents=True)
    await detecting.run(ctx)
    found = json.loads((ctx.training_dir / "detections.json").read_text())
    assert sorted(d["image_id"] for d in found) == ["a", "i"]
    assert (ctx.training_dir / "detect_model" / "model.onnx").exists()
    assert ctx.record.detections_uploaded == 0


async def test_detections_go_in_batches_and_resume_after_the_last_one_sent(tmp_path: Path) -> None:
    loop = FakeLoop()
    ctx = context(tmp_path, loop, make_record(detections_uploaded=0))
    ctx.settings.detection_batch_size = 2
    ctx.training_dir.mkdir(parents=True)
    items = [Detections(image_id=f"img-{i}").model_dump(mode="json") for i in range(5)]
    (ctx.training_dir / "detections.json").write_text(json.dumps(items))
    project = loop.project(ORG, PROJECT)
    project.fail("upload_detections", LoopNotFoundError("gone", 404))
    with pytest.raises(LoopNotFoundError):
        await detections_upload.run(ctx)
    project.failures["upload_detections"] = []
    project.detections.clear()
    ctx.record.detections_uploaded = 2  # what a run killed after the first batch saved
    await detections_upload.run(ctx)
    assert [d.image_id for d in project.detections] == ["img-2", "img-3", "img-4"]
    assert ctx.record.detections_uploaded == 5
