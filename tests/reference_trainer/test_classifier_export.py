"""The reference classifier's export: `[1, C]` probabilities that equal JAX's, in a package whose model.json the
detector accepts as the `classification` layout and reads exactly as the trainer's own detection pass does."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
import pytest

from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_reference_trainer.classifier import detect, model_files
from loop_reference_trainer.classifier.data import model_input
from loop_reference_trainer.classifier.export import export_onnx
from loop_reference_trainer.classifier.network import Classifier, export_function
from loop_shared.classification import CLASSIFICATION, top_classes
from loop_shared.model_package import read_model_info
from loop_shared.output_layouts import resolve_layout
from loop_shared.schemas import Category
from loop_shared.settings import load_settings
from loop_testkit.onnx_models import grid_categories
from loop_trainer.logic import TrainingJob

CATEGORIES = grid_categories(("circles", "squares", "triangles"), ("classification",) * 3)
HEIGHT, WIDTH = 64, 96


def scene(seed: int) -> np.ndarray:
    """A 4:3 image of some shapes (not the input's aspect ratio, so the letterbox pads)."""
    rng = np.random.default_rng(seed)
    image = np.full((120, 160, 3), rng.integers(40, 200, 3), np.uint8)
    for _ in range(4):
        centre = (int(rng.integers(20, 140)), int(rng.integers(20, 100)))
        cv2.circle(image, centre, int(rng.integers(5, 25)), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return image


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, TrainingJob, Path]:
    """A classifier with random weights, exported as the trainer exports it, and its model package."""
    root = tmp_path_factory.mktemp("classifier")
    model = Classifier(3, seed=3, width=8)
    model.eval()  # type: ignore[no-untyped-call]
    job = TrainingJob(training_dir=root, images_dir=root, output_dir=root / "output",
                      categories=[Category.model_validate(c) for c in CATEGORIES], hyperparameters={})
    job.output_dir.mkdir()
    export_onnx(model, HEIGHT, WIDTH, job.output_dir / "model.onnx")
    (job.output_dir / "summary.json").write_text(json.dumps({
        "resolution": WIDTH, "categories": CATEGORIES, "accuracy": 0.5, "macro_f1": 0.4, "conf_threshold": 0.3}))
    (job.output_dir / "weights.npz").write_bytes(b"")
    files, metadata = model_files(job)
    assert [p.name for p in files["onnx"]] == ["model.onnx", "weights.npz"]
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes((job.output_dir / "model.onnx").read_bytes())
    (model_dir / "model.json").write_text(json.dumps({"id": "m", "organization": "o", "project": "p",
                                                      "version": "1.2", **metadata}))
    return model, job, model_dir


def test_the_export_is_one_row_of_probabilities_equal_to_jax(package: tuple[Classifier, TrainingJob, Path]) -> None:
    model, _, model_dir = package
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, HEIGHT, WIDTH]
    tensor = model_input(scene(1), HEIGHT, WIDTH).transpose(2, 0, 1)[np.newaxis]
    exported = session.run(None, {session.get_inputs()[0].name: tensor})
    assert [o.shape for o in exported] == [(1, 3)]
    assert exported[0].sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(exported[0], np.asarray(export_function(model)(jnp.asarray(tensor))), atol=1e-4)
    assert resolve_layout([o.shape for o in exported], 3, "classification").name == CLASSIFICATION
    assert resolve_layout([o.shape for o in exported], 3).name == CLASSIFICATION  # also without model.json's word


def test_model_json_names_the_layout_and_the_scores(package: tuple[Classifier, TrainingJob, Path]) -> None:
    metadata = json.loads((package[2] / "model.json").read_text())
    assert metadata["output_layout"] == "classification" and metadata["scores"] == "probabilities"
    assert metadata["categories"] == CATEGORIES and (metadata["accuracy"], metadata["macro_f1"]) == (0.5, 0.4)


def test_the_detector_reads_it_as_the_trainer_and_jax_do(package: tuple[Classifier, TrainingJob, Path],
                                                         tmp_path: Path) -> None:
    model, job, model_dir = package
    logic = OnnxDetectorLogic(read_model_info(model_dir), model_dir,
                              load_settings(DetectorSettings, organization="o", project="p"))
    logic.load()
    assert logic.layout == CLASSIFICATION and (logic.height, logic.width) == (HEIGHT, WIDTH)
    paths = []
    for seed in range(4):
        paths.append(tmp_path / f"image{seed}.png")  # lossless: both read the same pixels
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(scene(seed), cv2.COLOR_RGB2BGR))
    ours = detect(job, model_dir, paths)
    for seed, mine in enumerate(ours):
        served = logic.evaluate(scene(seed)).classification_detections
        assert served, "the detector found no class above 0.3 of three"
        assert [d.model_dump() for d in served] == [d.model_dump() for d in mine.classification_detections]
        probs = np.asarray(export_function(model)(jnp.asarray(
            model_input(scene(seed), HEIGHT, WIDTH).transpose(2, 0, 1)[np.newaxis])))[0]
        expected = [CATEGORIES[k]["name"] for k in top_classes(probs, 0.3)]
        assert [d.category_name for d in served] == expected
        assert [d.confidence for d in served] == pytest.approx([float(probs[k]) for k in top_classes(probs, 0.3)],
                                                               abs=1e-3)
        assert mine.image_id == f"image{seed}" and all(d.model_name == "1.2" for d in served)
