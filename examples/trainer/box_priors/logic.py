"""Where does each category's box usually sit, and how big is it? k-means over the training boxes answers it.

This is the smallest complete TrainerLogic: it reads the job's annotations, trains in epochs (one k-means step
each), reports progress, honours stop and shutdown, checkpoints so a restarted node resumes, writes its model
and detects with it. The "model" is a handful of boxes per category (as YOLO computes its anchors), so it runs on
the trainer base image with NumPy alone; put your own framework in its place (`RUN pip install torch` in the
Dockerfile) and keep the structure.

The model is uploaded in its own format, `box_priors` (one JSON file); a detector serves it once a DetectorLogic
for that format exists, or train to `onnx` instead and the shipped detector serves it as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from loop_shared.schemas import BoxDetection, Detections, PretrainedModel
from loop_trainer.logic import Reporter, TrainerLogic, TrainingError, TrainingJob

DEFAULTS = {"epochs": 20, "priors": 3}
CHECKPOINT = "box_priors_checkpoint.json"
MODEL = "box_priors.json"


def relative_boxes(job: TrainingJob) -> dict[str, np.ndarray]:
    """Per category id: the training boxes as rows of (centre x, centre y, width, height), relative to the image."""
    found: dict[str, list[list[float]]] = {c.id: [] for c in job.categories}
    for item in job.image_data():
        if item.get("set") == "test" or not item.get("box_annotations"):
            continue
        image = cv2.imread(str(job.image_path(item["id"])), cv2.IMREAD_REDUCED_GRAYSCALE_2)
        if image is None:
            continue
        height, width = image.shape[0] * 2, image.shape[1] * 2
        for box in item["box_annotations"]:
            if box.get("category_id") in found and box.get("width", 0) > 0 and box.get("height", 0) > 0:
                found[box["category_id"]].append([(box["x"] + box["width"] / 2) / width,
                                                  (box["y"] + box["height"] / 2) / height,
                                                  box["width"] / width, box["height"] / height])
    return {cid: np.array(rows) for cid, rows in found.items() if rows}


def kmeans_step(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, float]:
    """One Lloyd step: every point to its nearest centre, every centre to the mean of its points."""
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    moved = np.array([points[nearest == k].mean(axis=0) if (nearest == k).any() else centres[k]
                      for k in range(len(centres))])
    return moved, float(distances.min(axis=1).mean())


class BoxPriorsTrainer(TrainerLogic):
    """Hyperparameters: `epochs` (20) and `priors` (3 boxes per category at most)."""

    model_format = "box_priors"
    architecture = "box-priors-example"
    pretrained_models: ClassVar[list[PretrainedModel]] = [
        PretrainedModel(name="priors", label="Box priors", description="k-means over the training boxes")]

    def train(self, job: TrainingJob, reporter: Reporter) -> None:
        hyper = {**DEFAULTS, **job.hyperparameters}
        epochs, priors = int(hyper["epochs"]), int(hyper["priors"])
        boxes = relative_boxes(job)
        if not boxes:
            raise TrainingError("no box annotations in the training images")  # no retry can fix this
        checkpoint = job.training_dir / CHECKPOINT
        if checkpoint.exists():  # a crash or a node restart: continue where the last epoch ended
            state = json.loads(checkpoint.read_text())
        else:
            rng = np.random.default_rng(0)
            state = {"epoch": 0, "centres": {
                cid: points[rng.choice(len(points), min(priors, len(points)), replace=False)].tolist()
                for cid, points in boxes.items()}}
        for epoch in range(state["epoch"], epochs):
            if reporter.stop_requested or reporter.shutdown_requested:
                break
            loss = 0.0
            for cid, points in boxes.items():
                centres, spread = kmeans_step(points, np.array(state["centres"][cid]))
                state["centres"][cid] = centres.tolist()
                loss += spread
            state["epoch"] = epoch + 1
            checkpoint.write_text(json.dumps(state))
            reporter.progress((epoch + 1) / epochs, epoch=epoch + 1, loss=loss)
        if reporter.shutdown_requested:
            return  # the checkpoint is written; the training resumes on the next start
        # a stop or the last epoch: the model as it is now
        shares = {cid: len(points) for cid, points in boxes.items()}
        total = sum(shares.values())
        model = {cid: {"boxes": state["centres"][cid], "confidence": round(shares[cid] / total, 3)}
                 for cid in state["centres"]}
        (job.output_dir / MODEL).write_text(json.dumps(model))

    def model_files(self, job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
        model = job.output_dir / MODEL
        if not model.exists():
            return {}, {}
        return {self.model_format: [model]}, {"architecture": self.architecture}

    def detect(self, job: TrainingJob, model_dir: Path, images: list[Path]) -> list[Detections]:
        model = json.loads((model_dir / MODEL).read_text())
        version = json.loads((model_dir / "model.json").read_text()).get("version", "")  # the Loop's model.json
        names = {c.id: c.name for c in job.categories}
        results = []
        for path in images:
            image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
            detections = Detections(image_id=path.stem)
            if image is not None:
                height, width = image.shape[0] * 2, image.shape[1] * 2
                for cid, prior in model.items():
                    for cx, cy, w, h in prior["boxes"]:
                        detections.box_detections.append(BoxDetection(
                            category_name=names.get(cid, cid), category_id=cid, x=round((cx - w / 2) * width),
                            y=round((cy - h / 2) * height), width=max(1, round(w * width)),
                            height=max(1, round(h * height)), model_name=version,
                            confidence=prior["confidence"]))
            results.append(detections)
        return results
