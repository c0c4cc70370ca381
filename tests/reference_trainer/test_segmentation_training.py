"""A short real training of the reference trainer on a small generated segmentation project (a box category and a
segmentation category, easy scenes): it learns masks, exports the `ultralytics_segment` layout, reports mask mAP
under the contract's names, and its own detection pass answers polygons for the segmentation category."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from loop_reference_trainer.logic import ReferenceTrainerLogic
from loop_shared.mask_metrics import mask_iou, polygon_mask
from loop_shared.schemas import ModelInformation
from loop_testkit.scene_categories import make_categories
from loop_testkit.scenes import encode_jpeg, render_scene
from loop_trainer.logic import TrainingJob

LOGIC = "loop_reference_trainer.logic:ReferenceTrainerLogic"
WIDTH, HEIGHT = 192, 144
HYPER = {"epochs": 14, "resolution": 192, "eval_every": 7, "seed": 3}


def project(work: Path, train: int, test: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    categories = make_categories(1, 0, 1, 0)
    rng = np.random.default_rng(7)
    (work / "images").mkdir(parents=True)
    items = []
    for i in range(train + test):
        image_id = f"00000000-0000-0000-0000-{i:012d}"
        image, annotations = render_scene(rng, categories, WIDTH, HEIGHT, image_id=image_id)
        (work / "images" / f"{image_id}.jpg").write_bytes(encode_jpeg(image))
        items.append({"id": image_id, "set": "test" if i < test else "train", **annotations})
    return categories, items


def test_a_short_training_learns_masks_and_detects_polygons(tmp_path: Path) -> None:
    categories, items = project(tmp_path, 64, 16)
    tdir = tmp_path / "training"
    (tdir / "output").mkdir(parents=True)
    (tdir / "image_data.json").write_text(json.dumps(items))
    job = TrainingJob(training_dir=tdir, images_dir=tmp_path / "images", output_dir=tdir / "output",
                      categories=categories, hyperparameters=HYPER)
    (tdir / "job.json").write_text(job.model_dump_json())
    done = subprocess.run([sys.executable, "-m", "loop_trainer.child", LOGIC, "train", str(tdir / "job.json")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads((tdir / "output" / "summary.json").read_text())
    assert summary["output_layout"] == "ultralytics_segment"
    assert summary["figures"]["measured_on"] == "test"
    assert summary["mask_map50"] >= 0.3, summary  # a floor far below what the bench reaches: it learned masks
    assert summary["mask_map50_95"] <= summary["mask_map50"]
    reports = [json.loads(line) for line in (tdir / "progress.jsonl").read_text().splitlines()]
    metrics = [r for r in reports if r.get("kind", r.get("type")) == "metrics" or "confusion_matrix" in r]
    last = json.dumps(metrics[-1])
    for name in ("test_mask_map50", "test_mask_map50_95", "test_map50"):
        assert name in last, metrics[-1]
    assert any("val_mask_map50" in json.dumps(m) for m in metrics[:-1])

    _files, metadata = ReferenceTrainerLogic().model_files(job)
    assert metadata["output_layout"] == "ultralytics_segment" and metadata["mask_map50"] == summary["mask_map50"]
    assert "mask_map50_95" in metadata
    model_dir = tdir / "output"
    info = {"id": "m1", "organization": "o", "project": "p", "version": "1.0", **metadata}
    (model_dir / "model.json").write_text(ModelInformation.model_validate(info).model_dump_json())

    tests = [i for i in items if i["set"] == "test"]
    found = ReferenceTrainerLogic().detect(job, model_dir, [tmp_path / "images" / f"{i['id']}.jpg" for i in tests])
    blob = next(c for c in categories if c["type"] == "segmentation")
    hits = total = 0
    for item, detections in zip(tests, found, strict=True):
        assert all(d.category_name != blob["name"] for d in detections.box_detections)
        masks = [polygon_mask([(p.x, p.y) for p in d.shape.points], HEIGHT, WIDTH)  # type: ignore[union-attr]
                 for d in detections.segmentation_detections if d.confidence >= 0.3]
        for truth in item["segmentation_annotations"]:
            total += 1
            reference = polygon_mask([(p["x"], p["y"]) for p in truth["shape"]["points"]], HEIGHT, WIDTH)
            hits += bool(masks) and float(mask_iou(np.stack(masks), reference[None]).max()) >= 0.5
    assert total >= 5 and hits / total >= 0.4, f"{hits} of {total} blobs found as polygons"
