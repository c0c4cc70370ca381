"""Make the demo project's first model: `make demo-model` (writes stub_loop/stub_loop/demo_model/).

Generates images of the demo project's categories with the stub's generator (another seed than the demo project
itself, so the demo images stay unseen), trains the reference trainer on them in the very child process the
trainer node runs (`python -m loop_trainer.child ... train job.json`), packs model.onnx and model.json, and checks
the result the way the README's first curl does: the detector's default logic on the demo image must find every
annotated object (right category, IoU >= 0.5; points within a few pixels). Exits with 1 if it does not (the
model in --out stays as it was), with 2 if the training failed.

The result is committed (see the README for why): a better reference trainer makes a better demo model by
running this again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from loop_detector.images import decode
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_reference_trainer.logic import ReferenceTrainerLogic
from loop_shared.schemas import ModelInformation
from loop_shared.settings import load_settings
from loop_testkit.scene_categories import make_categories
from loop_testkit.scene_matching import all_found, match_truth
from loop_testkit.scenes import encode_jpeg, render_scene
from loop_trainer.logic import TrainingJob
from stub_loop.demo import DEMO_CATEGORIES, DEMO_MODEL_DIR, seed_demo
from stub_loop.routes.pages import demo_image
from stub_loop.settings import StubSettings
from stub_loop.store import Store

ROOT = Path(__file__).resolve().parents[1]
LOGIC = "loop_reference_trainer.logic:ReferenceTrainerLogic"


def generate(work: Path, count: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` annotated images of the demo categories; every fifth is a test image."""
    categories = make_categories(DEMO_CATEGORIES["box_categories"], DEMO_CATEGORIES["point_categories"], 0, 0)
    rng = np.random.default_rng(seed)
    images = work / "images"
    images.mkdir(parents=True)
    items = []
    for i in range(count):
        image_id = str(uuid.UUID(int=int(rng.integers(2**63)) << 64 | i))
        rgb, annotations = render_scene(rng, categories, 320, 240, image_id=image_id)
        (images / f"{image_id}.jpg").write_bytes(encode_jpeg(rgb))
        items.append({"id": image_id, "set": "test" if i % 5 == 4 else "train", "width": 320, "height": 240,
                      **annotations})
    return categories, items


def train(work: Path, categories: list[dict[str, Any]], items: list[dict[str, Any]],
          hyperparameters: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    tdir = work / "training"
    (tdir / "output").mkdir(parents=True)
    (tdir / "image_data.json").write_text(json.dumps(items))
    job = TrainingJob(training_dir=tdir, images_dir=work / "images", output_dir=tdir / "output",
                      categories=categories, hyperparameters=hyperparameters)  # type: ignore[arg-type]
    (tdir / "job.json").write_text(job.model_dump_json())
    with open(tdir / "training.log", "wb") as log:
        code = subprocess.call([sys.executable, "-m", "loop_trainer.child", LOGIC, "train", str(tdir / "job.json")],
                               stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        print(f"training failed (exit {code}); see {tdir / 'training.log'}", file=sys.stderr)
        raise SystemExit(2)
    files, metadata = ReferenceTrainerLogic().model_files(job)
    return files["onnx"][0], metadata


def package(out: Path, onnx: Path, metadata: dict[str, Any], provenance: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, out / "model.onnx")
    info = {**metadata, "categories": [{"id": c["id"], "name": c["name"], "type": c["type"]}
                                       for c in metadata["categories"]], "demo": provenance}
    (out / "model.json").write_text(json.dumps(info, indent=2) + "\n")


def check(model_dir: Path) -> list[dict[str, Any]]:
    """Seed a demo project with this model in a scratch stub store and detect on its demo image."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = Store(root / "stub")
        settings = load_settings(StubSettings, data_dir=root / "stub", organization="zauberzeug", project="demo")
        seed_demo(store, settings, model_dir)
        image = demo_image(store, "zauberzeug", "demo")
        deployed = store.deployment("zauberzeug", "demo")
        assert deployed is not None
        with zipfile.ZipFile(store.model_file(deployed["id"], "onnx")) as archive:
            archive.extractall(root / "model")
        info = ModelInformation.model_validate_json((root / "model" / "model.json").read_text())
        detector_settings = load_settings(DetectorSettings, organization="zauberzeug", project="demo")
        logic = OnnxDetectorLogic(info, root / "model", detector_settings)
        logic.load()
        rgb = decode(store.image_path(image["id"]).read_bytes(), 2**25, 10**8)
        found = logic.evaluate(rgb).model_dump(mode="json")
        store.close()
        matched: list[dict[str, Any]] = match_truth(image, found)
        return matched


def decide(candidate: Path, out: Path) -> tuple[bool, list[dict[str, Any]]]:
    """Check the packed `candidate` on the demo image: if it finds every annotated object it replaces `out`
    (True), else `out` stays as it was (False). Returns the decision and the per-object matches."""
    matches = check(candidate)
    if not all_found(matches):
        return False, matches
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(candidate, out)
    return True, matches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500, help="generated training + test images")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--resolution", type=int, default=320)
    parser.add_argument("--seed", type=int, default=1001, help="generator seed (the demo project uses 1)")
    parser.add_argument("--out", type=Path, default=DEMO_MODEL_DIR)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "demo-model", help="scratch folder")
    args = parser.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    categories, items = generate(work, args.images, args.seed)
    hyperparameters = {"epochs": args.epochs, "resolution": args.resolution}
    onnx, metadata = train(work, categories, items, hyperparameters)
    provenance = {"made_by": "make demo-model (scripts/demo_model.py)", "images": args.images,
                  "generator_seed": args.seed, "hyperparameters": hyperparameters,
                  "minutes": round((time.monotonic() - started) / 60, 1)}
    candidate = work / "package"
    package(candidate, onnx, metadata, provenance)
    replaced, matches = decide(candidate, args.out)
    print(json.dumps({"metadata": {k: v for k, v in metadata.items() if k != "categories"},
                      "demo_image": matches}, indent=2))
    if not replaced:
        print("the model misses objects of the demo image; not replacing", args.out, file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({(args.out / 'model.onnx').stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
