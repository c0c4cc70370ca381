"""Segmentation benchmark: the reference trainer on a hard generated project with a segmentation category.

Default hyperparameters; the figures are the test split's (mask mAP@0.5 and @0.5:0.95, COCO segm, and the box
figures), measured once at the end, and the time from the start of the training process (what begin_training
starts, after the images are on disk) to each validation and to the finished model. The goal of issue 29: mask
mAP@0.5 >= 0.85 on the test split within 5 minutes, on 2 cores.

Run alone: `python -m bench.segmentation_bench [--seed N]` (starts its own stub Loop; writes
bench/results/segmentation.md). `make bench` runs `run(work, loop, stub)` as one of its sections.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import ORG, stub_loop, table
from .trainer_bench import _download, _train

SEGMENTATION = {"complete": 360, "test_fraction": 1 / 3, "box_categories": 2, "segmentation_categories": 1,
                "image_width": 416, "image_height": 320, "difficulty": "hard"}
SEED = 32  # the reported project (and 35); the defaults were tried out on seeds 33, 34 and 36
GOAL_MAP50, GOAL_SECONDS = 0.85, 300
ROOT = Path(__file__).resolve().parents[1]


def _evaluations(training_dir: Path, started: float) -> list[list[str]]:
    """Per validation: epoch, seconds since the process started, validation box and mask figures."""
    rows = []
    for line in (training_dir / "progress.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "val_mask_map50" in record and "progress" in record:
            rows.append([str(record["epoch"]), f"{record['time'] - started:.0f}", f"{record['val_map50']:.3f}",
                         f"{record['val_mask_map50']:.3f}", f"{record['val_mask_map50_95']:.3f}"])
    return rows


def run(work: Path, loop: Any, stub: Any, seed: int = SEED) -> tuple[str, Path]:
    """Train on a freshly generated project; returns the report section and the training's directory (its job.json
    and output/)."""
    import asyncio

    name = f"seg{seed}"
    project = loop.post(f"/{ORG}/projects/generator", json={"project_name": name, "seed": seed,
                                                              **SEGMENTATION}).json()
    ids = loop.get(f"/{ORG}/projects/{name}/data", params={"state": "complete"}).json()["image_ids"]
    items = loop.get(f"/{ORG}/projects/{name}/images", params={"ids": ",".join(ids)}).json()["images"]
    asyncio.run(_download(stub.port, name, work / "seg-images", len(ids)))
    started = time.time()
    result = _train(work, f"seg-{seed}", project, work / "seg-images", items, {}, None)
    f = result["figures"]
    train = sum(i["set"] == "train" for i in items)
    met = f["mask_map50"] >= GOAL_MAP50 and result["wall"] <= GOAL_SECONDS
    rows = [[f"{train} / {len(items) - train}", str(result["epochs"]), f"{result['wall']:.0f}",
             f"**{f['mask_map50']:.3f}**", f"**{f['mask_map50_95']:.3f}**", f"{f['map50']:.3f}",
             f"{f['map50_95']:.3f}", "met" if met else "missed"]]
    per_category = [[n, f"{v['ap50']:.3f}", f"{v['ap50_95']:.3f}"] for n, v in f["per_category"].items()]
    size = result.get("input_size") or ["?", "?"]
    return "\n".join([
        "## Segmentation", "",
        "The reference trainer on a `hard` generated project with 2 box categories (circle, square) and 1 "
        "segmentation category (irregular blobs with exact polygons), in random colours, with clutter, overlaps, "
        f"blur, noise and JPEG artefacts; 416 x 320 images, generator seed {seed}, default hyperparameters, model "
        f"input {size[1]} x {size[0]}. Mask mAP is COCO's segm (loop_shared.mask_metrics, checked against "
        "pycocotools), of the segmentation category, on the held-out test images only, with masks read as the "
        "detector reads them; box mAP over all three categories (box AP of the blobs included). Seconds: from the "
        f"start of the training process to the uploaded model's files. Goal: mask mAP@0.5 >= {GOAL_MAP50} within "
        f"{GOAL_SECONDS} s.", "",
        table(["train / test images", "epochs", "seconds", "test mask mAP@0.5", "test mask mAP@0.5:0.95",
               "test box mAP@0.5", "test box mAP@0.5:0.95", "goal"], rows), "",
        "Each validation (15 % of the training images; seconds since the training process started):", "",
        table(["epoch", "seconds", "val box mAP@0.5", "val mask mAP@0.5", "val mask mAP@0.5:0.95"],
              _evaluations(result["output"].parent, started)), "",
        "Per category (box AP on the test images):", "",
        table(["category", "AP@0.5", "AP@0.5:0.95"], per_category), ""]), result["output"].parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segmentation_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED, help="the generated project's seed")
    args = parser.parse_args()
    from .run import machine

    work = Path(tempfile.mkdtemp(prefix="loop-seg-bench-"))
    try:
        with stub_loop(work) as (stub, loop):
            section, _ = run(work, loop, stub, args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(["# Segmentation benchmark", "",
                      f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}", f"- machine: {machine()}",
                      f"- command: `python -m bench.segmentation_bench --seed {args.seed}`", "", section])
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "segmentation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
