"""The example plugins users copy from Dockerfiles/examples/ work as documented."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import extract_package, read_model_info, read_model_json
from loop_shared.settings import load_settings
from loop_testkit.onnx_models import grid_package
from loop_trainer.logic import Reporter, TrainingJob
from loop_trainer.reference.logic import ReferenceTrainerLogic

EXAMPLES = Path(__file__).resolve().parents[2] / "Dockerfiles" / "examples"
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


def test_quick_trainer_fills_in_its_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quick_trainer.logic import QuickTrainer

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(ReferenceTrainerLogic, "train", lambda self, job, reporter: seen.append(job.hyperparameters))
    job = TrainingJob(training_dir=tmp_path, images_dir=tmp_path, output_dir=tmp_path, categories=[],
                      hyperparameters={"epochs": 5})
    QuickTrainer().train(job, Reporter(tmp_path / "p.jsonl"))
    assert seen == [{"resolution": 192, "epochs": 5}]
    assert sys.modules["quick_trainer.logic"].QUICK_DEFAULTS["epochs"] == 20
