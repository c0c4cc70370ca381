"""Trainer benchmarks: two rounds of the reference trainer, and image download throughput from the stub Loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loop_shared.loop_client import LoopClient
from loop_shared.settings import NodeSettings, load_settings
from loop_trainer.downloader import Downloader
from loop_trainer.logic import TrainingJob

from .common import ORG, PASSWORD, USER, table

LOGIC = "loop_trainer.reference.logic:ReferenceTrainerLogic"


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


async def _download(stub_port: int, project: str, dest: Path, ids_count: int) -> tuple[float, int]:
    settings = load_settings(NodeSettings, host=f"127.0.0.1:{stub_port}", username=USER, password=PASSWORD)
    client = LoopClient(settings)
    try:
        downloader = Downloader(client, ORG, project, dest, concurrency=10)
        ids = await downloader.image_ids("complete")
        started = time.monotonic()
        await downloader.image_data(ids)
        corrupt, failed = await downloader.images(ids)
        return time.monotonic() - started, len(ids) - corrupt - failed
    finally:
        await client.close()


def run(work: Path, loop: Any, stub: Any) -> tuple[str, Path]:
    """Returns the report section and the trained model's directory (the detector's small model)."""
    body = {"project_name": "train", "complete": 250, "box_categories": 2, "seed": 11}
    project = loop.post(f"/{ORG}/projects/generator", json=body).json()
    ids = loop.get(f"/{ORG}/projects/train/data", params={"state": "complete"}).json()["image_ids"]
    items = loop.get(f"/{ORG}/projects/train/images", params={"ids": ",".join(ids)}).json()["images"]
    images = work / "images"
    asyncio.run(_download(stub.port, "train", images, len(ids)))
    hyper = {"epochs": 30, "resolution": 256, "eval_every": 5}
    first = _train(work, "round1", project, images, items, hyper, None)
    base = work / "round1-base"
    base.mkdir()
    (base / "weights.npz").write_bytes((first["output"] / "weights.npz").read_bytes())
    second = _train(work, "round2", project, images, items, {**hyper, "epochs": 15}, base)

    loop.post(f"/{ORG}/projects/generator", json={"project_name": "dl", "complete": 1000, "box_categories": 2})
    seconds, count = asyncio.run(_download(stub.port, "dl", work / "dl-images", 1000))
    train_count = sum(i["set"] == "train" for i in items)
    rows = [["round 1 (from scratch)", hyper["epochs"], f"{first['map50']:.3f}", f"{first['wall']:.0f}"],
            ["round 2 (from round 1's weights)", 15, f"{second['map50']:.3f}", f"{second['wall']:.0f}"]]
    report = "\n".join([
        "## Trainer", "",
        f"Reference trainer on a generated project: 2 box categories, {train_count} train and "
        f"{len(items) - train_count} test images (320x240), input 256. mAP@0.5 on the test set; time is the whole "
        "child process (JAX start-up and compilation, data loading, training, evaluation, ONNX export).", "",
        table(["training", "epochs", "test mAP@0.5", "seconds"], rows), "",
        f"Image download from the stub Loop: {count} images (ids, data in chunks of 100, files 10 at a time) in "
        f"{seconds:.1f} s = **{count / seconds:.0f} images/s**.", ""])
    return report, first["output"]
