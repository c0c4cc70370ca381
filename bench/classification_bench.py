"""Classification benchmark: the reference classifier on a `hard` generated classification project, default
hyperparameters; top-1 accuracy and macro-F1 on the held-out test images, and the seconds of the whole training
child process (JAX start-up and compilation, loading, training, validation, ONNX export and its check, the test
evaluation).

Part of `make bench` (bench/run.py), or alone: `python -m bench.classification_bench [--seed N]`, which writes
bench/results/classification.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import ORG, stub_loop, table
from .trainer_bench import _download, _train

SEED = 21  # the reported project; the defaults were tuned on other seeds (100, 101, 102)
HARD_CLASSIFICATION = {"complete": 500, "test_fraction": 0.2, "box_categories": 0, "classification_categories": 4,
                       "image_width": 320, "image_height": 240, "difficulty": "hard"}
RESULTS = Path(__file__).resolve().parent / "results"


def run(work: Path, loop: Any, stub: Any, seed: int = SEED) -> tuple[str, Path]:
    """Generate the project, train with the default hyperparameters; returns the report section and the
    training's directory (its job.json and output/)."""
    import asyncio

    name = f"classes{seed}"
    project = loop.post(f"/{ORG}/projects/generator", json={"project_name": name, "seed": seed,
                                                             **HARD_CLASSIFICATION}).json()
    ids = loop.get(f"/{ORG}/projects/{name}/data", params={"state": "complete"}).json()["image_ids"]
    items = loop.get(f"/{ORG}/projects/{name}/images", params={"ids": ",".join(ids)}).json()["images"]
    asyncio.run(_download(stub.port, name, work / "classification-images", len(ids)))
    result = _train(work, f"classifier{seed}", project, work / "classification-images", items, {}, None)
    f = result["figures"]
    train = sum(i["set"] == "train" for i in items)
    size = result.get("input_size") or ["?", "?"]
    row = [f"{train} / {len(items) - train}", str(result["epochs"]), f"{result['wall']:.0f}",
           f"**{f['accuracy']:.3f}**", f"**{f['macro_f1']:.3f}**", str(seed)]
    confusion = f["class_confusion"]
    matrix = [[label, *map(str, counts)]
              for label, counts in zip(confusion["labels"], confusion["matrix"], strict=True)]
    return "\n".join([
        "## Classifier", "",
        f"The reference classifier on a `hard` generated classification project: {len(confusion['labels'])} classes "
        "(the shape each image shows: circles, squares, triangles, crosses), three to six objects of that shape in "
        "random colours and rotations, clutter, distractors, uneven light, blur, noise and JPEG artefacts; "
        f"320 x 240 images, model input {size[1]} x "
        f"{size[0]}. Default hyperparameters; 15 % of the training images validate (best epoch). Figures on the "
        "held-out test images only; seconds are the whole training child process.", "",
        table(["train / test images", "epochs", "seconds", "test top-1 accuracy", "test macro-F1", "seed"], [row]),
        "", "Confusion on the test images (rows: true class, columns: predicted):", "",
        table(["true \\ predicted", *confusion["labels"]], matrix), ""]), result["output"].parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.classification_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED, help=f"the generated project's seed (default {SEED})")
    seed = parser.parse_args().seed
    work = Path(tempfile.mkdtemp(prefix="loop-bench-classification-"))
    try:
        with stub_loop(work) as (stub, loop):
            section, _ = run(work, loop, stub, seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(section)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (RESULTS / "classification.md").write_text(f"# Classifier benchmark\n\n- date: {stamp}\n"
                                               f"- command: `python -m bench.classification_bench --seed {seed}`\n\n"
                                               f"{section}")


if __name__ == "__main__":
    main()
