"""The accuracy gate's reading of two models' detections (the models replaced by their detections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loop_converter import accuracy, box_accuracy
from loop_shared.detection_metrics import Box

SOURCE = [[Box(0, 0, 10, 10, 0, 0.6), Box(40, 40, 50, 50, 0, 0.45), Box(80, 80, 90, 90, 0, 0.2)]]
CONVERTED = {
    # the box the source scored 0.45 (under its threshold 0.5) is scored 0.55: the same box, no change
    "crossed": [[Box(40, 40, 50, 50, 0, 0.55), Box(0, 0, 10, 10, 0, 0.58)]],
    # the box the source scored 0.2 is scored 0.7: a new detection, ranked above the one the source reported
    "jumped": [[Box(80, 80, 90, 90, 0, 0.7), Box(0, 0, 10, 10, 0, 0.58)]],
    # the reported box lost: nothing where the source reported one
    "lost": [[Box(40, 40, 50, 50, 0, 0.55)]]}


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float | None]]:
    calls: list[tuple[str, float | None]] = []

    def detections(model: Path, images: list[Path], model_info: dict[str, Any],
                   conf: float | None = None) -> list[list[Box]]:
        calls.append((model.stem, conf))
        return SOURCE if model.stem == "source" else CONVERTED[model.stem]

    monkeypatch.setattr(box_accuracy, "detections", detections)
    return calls


@pytest.mark.parametrize(("converted", "drop"), [("crossed", 0.0), ("jumped", 0.5), ("lost", 1.0)])
def test_the_gate_reads_threshold_crossings_as_the_same_box(
        fake_models: list[tuple[str, float | None]], tmp_path: Path, converted: str, drop: float) -> None:
    figures = accuracy.measure(tmp_path / "source.onnx", tmp_path / f"{converted}.onnx", [tmp_path / "a.jpg"],
                               {"conf_threshold": 0.5, "output_layout": "ultralytics"})
    # both models ranked down to the same low confidence; the reference is what the source reports (> 0.5)
    assert fake_models == [("source", box_accuracy.RANKING_CONF), (converted, box_accuracy.RANKING_CONF)]
    assert figures["source_detections"] == 1
    assert figures["accuracy_drop"] == pytest.approx(drop)
