"""Trainer benchmarks: two rounds of the reference trainer, and image download throughput from the stub Loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loop_shared.loop_api import LoopApi
from loop_shared.loop_client import LoopClient
from loop_shared.settings import NodeSettings, load_settings
from loop_trainer.downloader import Downloader
from loop_trainer.logic import TrainingJob

from .common import ORG, PASSWORD, USER, table

LOGIC = "loop_reference_trainer.logic:ReferenceTrainerLogic"


def _train(work: Path, name: str, project: dict[str, Any], images: Path, items: list[dict[str, Any]],
           hyper: dict[str, Any], base: Path | None) -> dict[str, Any]:
    tdir = work / name
    (tdir / "output").mkdir(parents=True)
    (tdir / "image_data.json").write_text(json.dumps(items))
    job = TrainingJob(training_dir=tdir, images_dir=images, output_dir=tdir / "output",
                      categories=project["categories"], hyperparameters=hyper, base_model_dir=base)
    (tdir / "job.json").write_text(job.model_dump_json())
    started = time.monotonic()
    # the same child process the trainer node runs
    subprocess.run([sys.executable, "-m", "loop_trainer.child", LOGIC, "train", str(tdir / "job.json")],
                   check=True, stdout=open(tdir / "training.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    summary = json.loads((tdir / "output" / "summary.json").read_text())
    return {**summary, "wall": time.monotonic() - started, "output": tdir / "output"}


def trained_package(training_dir: Path, dest: Path) -> Path:
    """The model package (model.onnx and model.json) of a training `_train` ran, with the model.json the trainer
    node uploads: the metadata of the reference trainer's `model_files`."""
    from loop_reference_trainer.logic import ReferenceTrainerLogic

    job = TrainingJob.model_validate_json((training_dir / "job.json").read_text())
    files, metadata = ReferenceTrainerLogic().model_files(job)
    if not files:
        raise RuntimeError(f"the training in {training_dir} left no model")
    dest.mkdir(parents=True, exist_ok=True)
    for path in next(iter(files.values())):
        shutil.copyfile(path, dest / path.name)
    (dest / "model.json").write_text(json.dumps(metadata))
    return dest


async def _download(stub_port: int, project: str, dest: Path, ids_count: int) -> tuple[float, int]:
    settings = load_settings(NodeSettings, host=f"127.0.0.1:{stub_port}", username=USER, password=PASSWORD)
    client = LoopClient(settings)
    try:
        downloader = Downloader(LoopApi(client).project(ORG, project), dest, concurrency=10)
        ids = await downloader.image_ids("complete")
        started = time.monotonic()
        await downloader.image_data(ids)
        corrupt, failed = await downloader.images(ids)
        return time.monotonic() - started, len(ids) - corrupt - failed
    finally:
        await client.close()


HARD = {"complete": 360, "test_fraction": 1 / 3, "box_categories": 3, "image_width": 416, "image_height": 320,
        "difficulty": "hard"}
ROUND2_EPOCHS = 20


def _project(loop: Any, stub: Any, work: Path, name: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    project = loop.post(f"/{ORG}/projects/generator", json={"project_name": name, "seed": seed, **HARD}).json()
    ids = loop.get(f"/{ORG}/projects/{name}/data", params={"state": "complete"}).json()["image_ids"]
    items = loop.get(f"/{ORG}/projects/{name}/images", params={"ids": ",".join(ids)}).json()["images"]
    asyncio.run(_download(stub.port, name, work / "images", len(ids)))
    return project, items


def _row(name: str, items: list[dict[str, Any]], result: dict[str, Any]) -> list[str]:
    f = result["figures"]
    train = sum(i["set"] == "train" for i in items)
    return [name, f"{train} / {len(items) - train}", str(result["epochs"]), f"{result['wall']:.0f}",
            f"**{f['map50']:.3f}**", f"**{f['map50_95']:.3f}**", f"{f['precision']:.3f}", f"{f['recall']:.3f}",
            f"{f['conf_threshold']:.2f}"]


def run(work: Path, loop: Any, stub: Any) -> tuple[str, Path, list[Path]]:
    """Returns the report section, the first round's model directory (the detector's small model) and the
    first project's test images (for the converter's accuracy figures)."""
    project, items = _project(loop, stub, work, "hard", 11)
    first = _train(work, "round1", project, work / "images", items, {}, None)
    base = work / "round1-base"
    base.mkdir()
    (base / "weights.npz").write_bytes((first["output"] / "weights.npz").read_bytes())
    project2, items2 = _project(loop, stub, work, "hard2", 12)
    second = _train(work, "round2", project2, work / "images", items2, {"epochs": ROUND2_EPOCHS}, base)

    loop.post(f"/{ORG}/projects/generator", json={"project_name": "dl", "complete": 1000, "box_categories": 2})
    seconds, count = asyncio.run(_download(stub.port, "dl", work / "dl-images", 1000))
    rows = [_row("round 1: from scratch, default hyperparameters", items, first),
            _row(f"round 2: round 1's weights, new images, {ROUND2_EPOCHS} epochs", items2, second)]
    per_category = [[name, f"{v['ap50']:.3f}", f"{v['ap50_95']:.3f}"]
                    for name, v in first["figures"]["per_category"].items()]
    size = first.get("input_size") or ["?", "?"]
    report = "\n".join([
        "## Trainer", "",
        "The reference trainer on a `hard` generated project: 3 categories told apart by shape alone (circle, square, "
        "triangle) in random colours, 1 to 5 objects of 14 to 110 px, partial overlaps, clutter and distractors, "
        "uneven light, blur, noise and JPEG artefacts; 416 x 320 images. The trainer takes 15 % of the training "
        "images (by id hash) for validation, which picks the best epoch and the confidence threshold; every figure "
        f"below is measured once, on the held-out test images only. Model input {size[1]} x {size[0]}. Seconds are "
        "the whole child process (JAX start-up and compilation, data loading, training, validation, ONNX export, "
        "test evaluation). mAP follows COCO (101-point, IoU 0.50:0.95; checked against pycocotools in "
        "tests/trainer/test_evaluate.py); precision and recall at IoU 0.5 and the model's threshold.", "",
        table(["training", "train / test images", "epochs", "seconds", "test mAP@0.5", "test mAP@0.5:0.95",
               "precision", "recall", "threshold"], rows), "",
        "Round 1 per category (test images):", "",
        table(["category", "AP@0.5", "AP@0.5:0.95"], per_category), "",
        f"Image download from the stub Loop: {count} images (ids, data in chunks of 100, files 10 at a time) in "
        f"{seconds:.1f} s = **{count / seconds:.0f} images/s**.", ""])
    tests = [work / "images" / f"{i['id']}.jpg" for i in items if i["set"] == "test"]
    return report, first["output"], tests
