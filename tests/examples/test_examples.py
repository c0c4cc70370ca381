"""The example plugins users copy from examples/ work as documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import extract_package, read_model_info, read_model_json
from loop_shared.settings import load_settings
from loop_testkit.onnx_models import grid_package
from loop_trainer.logic import Reporter, TrainingJob

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IDENTITY = {"id": "m", "organization": "o", "project": "p", "version": "1.0"}


@pytest.fixture(autouse=True)
def example_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("detector", "trainer", "converter"):
        monkeypatch.syspath_prepend(str(EXAMPLES / name))


def scene() -> np.ndarray:
    image = np.zeros((64, 64, 3), np.uint8)
    image[0:16, 0:16] = (255, 0, 0)
    image[16:32, 16:32] = (0, 255, 0)
    return image


def test_minimum_area_logic_drops_small_boxes(tmp_path: Path) -> None:
    from min_area_logic.logic import MinimumAreaLogic

    directory = extract_package(grid_package(tmp_path / "g.zip", extra={**IDENTITY, "min_box_area": 300}),
                                tmp_path / "m")
    settings = load_settings(DetectorSettings, organization="o", project="p")
    plain = OnnxDetectorLogic(read_model_info(directory), directory, settings)
    filtered = MinimumAreaLogic(read_model_info(directory), directory, settings)
    plain.load()
    filtered.load()
    assert len(plain.evaluate(scene()).box_detections) == 2  # two 16x16 = 256 px boxes
    assert filtered.evaluate(scene()).box_detections == []


def test_ort_format_converter_gives_the_same_outputs(tmp_path: Path) -> None:
    import onnxruntime as ort
    from ort_converter.logic import OrtFormatConverter

    source = extract_package(grid_package(tmp_path / "g.zip", conv=True, extra=IDENTITY), tmp_path / "src")
    target = tmp_path / "dst"
    target.mkdir()
    additions = OrtFormatConverter().convert(source, read_model_json(source), target, [])
    assert additions["runtime_format"] == "ort" and (target / "model.ort").read_bytes()[4:8] == b"ORTM"
    probe = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    outputs = [ort.InferenceSession(str(path)).run(None, {"images": probe})[0]
               for path in (source / "model.onnx", target / "model.ort")]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def box_priors_job(tmp_path: Path, hyperparameters: dict[str, Any]) -> TrainingJob:
    """Twelve 100 x 80 images, each with a small box top left and a wide one at the bottom."""
    from loop_shared.schemas import Category

    images = tmp_path / "images"
    images.mkdir()
    items = []
    for k in range(12):
        cv2.imwrite(str(images / f"i{k}.jpg"), np.zeros((80, 100, 3), np.uint8))
        items.append({"id": f"i{k}", "set": "train", "box_annotations": [
            {"category_id": "c", "x": 10 + k % 3, "y": 10, "width": 10, "height": 10},
            {"category_id": "c", "x": 20, "y": 60 + k % 2, "width": 60, "height": 10}]})
    (tmp_path / "image_data.json").write_text(json.dumps(items))
    (tmp_path / "output").mkdir()
    return TrainingJob(training_dir=tmp_path, images_dir=images, output_dir=tmp_path / "output",
                       categories=[Category(id="c", name="thing", type="box")], hyperparameters=hyperparameters)


def test_box_priors_trainer_learns_where_the_boxes_are(tmp_path: Path) -> None:
    from box_priors.logic import BoxPriorsTrainer

    job = box_priors_job(tmp_path, {"priors": 2, "epochs": 5})
    logic = BoxPriorsTrainer()
    logic.train(job, Reporter(tmp_path / "progress.jsonl"))
    files, _ = logic.model_files(job)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for path in files["box_priors"]:
        (model_dir / path.name).write_bytes(path.read_bytes())
    (model_dir / "model.json").write_text(json.dumps({"version": "1.1"}))
    [found] = logic.detect(job, model_dir, [job.image_path("i0")])
    boxes = sorted((b.x, b.y, b.width, b.height) for b in found.box_detections)
    assert boxes == [(11, 10, 10, 10), (20, 60, 60, 10)]
    assert {b.model_name for b in found.box_detections} == {"1.1"}
    progress = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert [p["epoch"] for p in progress] == [1, 2, 3, 4, 5]


def test_box_priors_trainer_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    from box_priors.logic import BoxPriorsTrainer

    job = box_priors_job(tmp_path, {"priors": 2, "epochs": 4})
    reporter = Reporter(tmp_path / "progress.jsonl")
    reporter.shutdown_requested = True  # as if the node shut down during the first epoch: checkpoint, no model
    (tmp_path / "box_priors_checkpoint.json").write_text(json.dumps(
        {"epoch": 3, "centres": {"c": [[0.15, 0.15, 0.1, 0.125], [0.5, 0.8, 0.6, 0.125]]}}))
    BoxPriorsTrainer().train(job, reporter)
    assert not (job.output_dir / "box_priors.json").exists()
    BoxPriorsTrainer().train(job, Reporter(tmp_path / "progress.jsonl"))
    progress = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert [p["epoch"] for p in progress] == [4]  # only the last epoch ran
    assert (job.output_dir / "box_priors.json").exists()
