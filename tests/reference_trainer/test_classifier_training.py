"""The reference classifier trains for real on a small generated classification project, in the trainer's child
process: it beats chance by a wide margin, reports the contract's figures, and its detection pass classifies.
A shutdown keeps the checkpoint and the next run continues from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from loop_reference_trainer.classifier import model_files
from loop_reference_trainer.classifier.train import run
from loop_shared.schemas import Category
from loop_trainer.logic import Reporter, TrainingJob
from stub_loop.project_factory import GeneratorRequest, generate_project
from stub_loop.store import Store

LOGIC = "loop_reference_trainer.logic:ReferenceTrainerLogic"


def project(root: Path, complete: int, classes: int, width: int, height: int, inbox: int = 0,
            hyperparameters: dict[str, Any] | None = None) -> tuple[TrainingJob, list[dict[str, Any]]]:
    """A generated easy classification project as the trainer node lays it out: images and image_data.json."""
    store = Store(root / "stub")
    summary = generate_project(store, "org", GeneratorRequest(
        project_name="cls", complete=complete, inbox=inbox, box_categories=0, classification_categories=classes,
        image_width=width, image_height=height, seed=4, test_fraction=0.25))
    items = store.images("org", "cls", store.image_ids("org", "cls", None))
    images = root / "images"
    images.mkdir()
    for item in items:
        (images / f"{item['id']}.jpg").write_bytes(store.image_path(item["id"]).read_bytes())
    store.close()
    training = root / "training"
    (training / "output").mkdir(parents=True)
    (training / "image_data.json").write_text(json.dumps([i for i in items if i["state"] == "complete"]))
    job = TrainingJob(training_dir=training, images_dir=images, output_dir=training / "output",
                      categories=[Category.model_validate(c) for c in summary["categories"]],
                      hyperparameters=hyperparameters or {})
    return job, items


def reports(job: TrainingJob) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (job.training_dir / "progress.jsonl").read_text().splitlines()]


def test_a_short_training_beats_chance_and_reports_the_contract_figures(tmp_path: Path) -> None:
    job, items = project(tmp_path, 120, 4, 256, 192, inbox=8, hyperparameters={
        "epochs": 20, "eval_every": 5, "resolution": 128, "batch_size": 16})
    (job.training_dir / "job.json").write_text(job.model_dump_json())
    child = subprocess.run([sys.executable, "-m", "loop_trainer.child", LOGIC, "train",
                            str(job.training_dir / "job.json")], capture_output=True, text=True)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    lines = reports(job)
    assert [r["epoch"] for r in lines if "progress" in r] == list(range(1, 21))
    assert {"val_accuracy", "val_macro_f1"} <= {k for r in lines if "progress" in r for k in r}
    best = [r for r in lines if "confusion_matrix" in r]
    names = [c.name for c in job.categories]
    final = best[-1]
    assert final["measured_on"] == "test" and {"test_accuracy", "test_macro_f1"} <= final.keys()
    assert final["class_confusion"]["labels"] == names
    matrix = np.array(final["class_confusion"]["matrix"])
    assert matrix.shape == (4, 4) and matrix.sum() == 30  # every test image once
    assert final["test_accuracy"] == round(np.trace(matrix) / 30, 4)
    assert set(final["confusion_matrix"]) == {c.id for c in job.categories}
    assert final["test_accuracy"] >= 0.6, final  # chance is 0.25
    # an easy project's classes have colours of their own: the network was given them
    assert json.loads((job.output_dir / "summary.json").read_text())["colour"] == 1.0
    assert all("val_accuracy" in r and "class_confusion" in r for r in best[:-1])

    files, metadata = model_files(job)
    assert metadata["output_layout"] == "classification" and metadata["accuracy"] == final["test_accuracy"]
    assert [p.name for p in files["onnx"]] == ["model.onnx", "weights.npz"] and all(p.exists() for p in files["onnx"])

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(files["onnx"][0].read_bytes())
    (model_dir / "model.json").write_text(json.dumps({"id": "m", "organization": "org", "project": "cls",
                                                      "version": "1.0", **metadata}))
    tests = [i for i in items if i.get("set") == "test"]
    (tmp_path / "images.json").write_text(json.dumps([str(job.image_path(i["id"])) for i in tests]))
    child = subprocess.run([sys.executable, "-m", "loop_trainer.child", LOGIC, "detect",
                            str(job.training_dir / "job.json"), str(model_dir), str(tmp_path / "images.json"),
                            str(tmp_path / "detections.json")], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-3000:]
    detections = json.loads((tmp_path / "detections.json").read_text())
    assert [d["image_id"] for d in detections] == [i["id"] for i in tests]
    top = [d["classification_detections"][0]["category_name"] if d["classification_detections"] else None
           for d in detections]
    right = sum(t == i["classification_annotation"]["category_name"] for t, i in zip(top, tests, strict=True))
    assert right / len(tests) >= 0.6
    assert all(not d["box_detections"] and not d["point_detections"] for d in detections)


class ShutdownAfter(Reporter):
    """Asks for a shutdown once `epochs` epochs have been reported."""

    def __init__(self, path: Path, epochs: int) -> None:
        super().__init__(path)
        self.epochs = epochs

    def progress(self, fraction: float, **figures: float | int | None) -> None:
        super().progress(fraction, **figures)
        if figures.get("epoch") == self.epochs:
            self.shutdown_requested = True


def test_a_shutdown_keeps_the_checkpoint_and_the_next_run_continues(tmp_path: Path) -> None:
    job, _ = project(tmp_path, 24, 2, 96, 64, hyperparameters={"epochs": 3, "eval_every": 1, "resolution": 64,
                                                              "batch_size": 8})
    assert run(job, ShutdownAfter(job.training_dir / "progress.jsonl", 2)) is None
    assert (job.training_dir / "checkpoint.npz").exists() and not (job.output_dir / "model.onnx").exists()
    summary = run(job, Reporter(job.training_dir / "progress.jsonl"))
    assert summary is not None and summary["epochs"] == 3
    epochs = [r["epoch"] for r in reports(job) if "progress" in r]
    assert epochs == [1, 2, 3]  # the second run started at epoch 3
    assert (job.output_dir / "model.onnx").exists() and (job.output_dir / "weights.npz").exists()
