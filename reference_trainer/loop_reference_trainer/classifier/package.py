"""What the reference classifier uploads after training: its files and model.json metadata (no JAX imported: this
runs in the trainer node itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loop_shared.classification import CLASSIFICATION, PROBABILITIES
from loop_trainer.logic import TrainingJob

CONF_THRESHOLD = 0.3  # the detector reports every class above it (the relevance filter's uncertain window starts here)
ARCHITECTURE = "loop-reference-classifier"


def model_files(job: TrainingJob) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    model = job.output_dir / "model.onnx"
    if not model.exists():
        return {}, {}
    summary = json.loads((job.output_dir / "summary.json").read_text())
    metadata = {"resolution": summary["resolution"], "categories": summary["categories"],
                "output_layout": CLASSIFICATION, "scores": PROBABILITIES, "preprocessing": "letterbox",
                "conf_threshold": summary.get("conf_threshold", CONF_THRESHOLD), "architecture": ARCHITECTURE,
                "accuracy": summary["accuracy"], "macro_f1": summary["macro_f1"], "figures": summary.get("figures")}
    return {"onnx": [model, job.output_dir / "weights.npz"]}, metadata
