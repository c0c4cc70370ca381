"""Segmentation and classification models of the test kit as packages, and scenes for them, for the converter's
tests (unit and process level)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from loop_converter.logic import ConverterLogic
from loop_converter.onnx_converters import OnnxFp16Converter, OnnxInt8Converter
from loop_shared.model_package import read_model_json
from loop_testkit.onnx_classifier import build_classifier_onnx
from loop_testkit.onnx_segmenter import GREEN, RED, build_segmenter_onnx, candidate, write_package

SIZE = 64
# box centre and size, scores of (red_thing, green_thing), mask coefficients: four reported detections, one that
# the source scores under its threshold
CANDIDATES = [candidate(16, 16, 24, 24, [0.9, 0.05], RED), candidate(48, 16, 24, 24, [0.05, 0.8], GREEN),
              candidate(16, 48, 24, 24, [0.7, 0.1], RED), candidate(48, 48, 24, 24, [0.1, 0.6], GREEN),
              candidate(40, 40, 20, 20, [0.15, 0.0], RED)]
SEGMENTATION_CATEGORIES = [{"id": "c-red", "name": "red_thing", "type": "segmentation"},
                           {"id": "c-green", "name": "green_thing", "type": "segmentation"}]
CLASSES = [{"id": f"c-{name}", "name": name, "type": "classification"} for name in ("red", "green", "blue")]


def segmentation_package(dest: Path, extra: dict[str, Any] | None = None) -> Path:
    """The convolutional colour segmenter (weights to quantize) as a package, `ultralytics_segment`."""
    model_json = {"categories": SEGMENTATION_CATEGORIES, "resolution": SIZE, "output_layout": "ultralytics_segment",
                  "conf_threshold": 0.5, **(extra or {})}
    return Path(write_package(dest, build_segmenter_onnx(SIZE, CANDIDATES, conv=True), model_json))


def classification_package(dest: Path, extra: dict[str, Any] | None = None, softmax: bool = True) -> Path:
    """The convolutional colour classifier as a package, `classification`: ending in a softmax (`scores:
    probabilities`) or, without `softmax`, in logits."""
    model_json = {"categories": CLASSES, "resolution": SIZE, "output_layout": "classification",
                  "scores": "probabilities" if softmax else "logits", "conf_threshold": 0.3, **(extra or {})}
    return Path(write_package(dest, build_classifier_onnx(SIZE, gain=12.0, conv=True, softmax=softmax),
                              model_json))


def segmentation_scenes(count: int, seed: int = 0) -> list[np.ndarray]:
    """RGB images with a red or green blob of random outline inside each candidate's box, on dark noise."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = rng.integers(0, 40, size=(SIZE, SIZE, 3), dtype=np.uint8)
        for cx, cy, w, h, *_, red, _green in CANDIDATES[:4]:
            angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
            radii = rng.uniform(0.2, 0.48, 7)
            points = np.stack([cx + radii * w * np.cos(angles), cy + radii * h * np.sin(angles)], axis=1)
            colour = (int(rng.integers(160, 256)), 0, 0) if red else (0, int(rng.integers(160, 256)), 0)
            cv2.fillPoly(image, [points.round().astype(np.int32)], colour)
        images.append(image)
    return images


def classification_scenes(count: int, seed: int = 0) -> list[np.ndarray]:
    """RGB images with one dominant channel (a bright rectangle of a random colour and size) on noise."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
        x0, y0 = int(rng.integers(0, 24)), int(rng.integers(0, 24))
        x1, y1 = int(rng.integers(x0 + 24, SIZE + 1)), int(rng.integers(y0 + 24, SIZE + 1))
        image[y0:y1, x0:x1, int(rng.integers(0, 3))] = int(rng.integers(120, 256))
        images.append(image)
    return images


def on_disk(images: list[np.ndarray], directory: Path, prefix: str = "image") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = directory / f"{prefix}{i}.png"  # lossless: the scenes' colours stay as drawn
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def conversions(source: Path, calibration: list[Path], root: Path) -> dict[str, Path]:
    """The source package and its INT8 (calibrated on `calibration`) and FP16 conversions, by format."""
    result = {"source": source}
    converter: ConverterLogic
    for converter in (OnnxInt8Converter(), OnnxFp16Converter()):
        target = root / converter.target_format
        target.mkdir()
        converter.convert(source, read_model_json(source), target, calibration)
        result[converter.target_format] = target
    return result


def perturbed(model: Path, initializer: str, change: Callable[[np.ndarray], np.ndarray]) -> Path:
    """A copy of `model` with one weight tensor changed (kept in its own type)."""
    proto = onnx.load(str(model))
    [tensor] = [t for t in proto.graph.initializer if t.name == initializer]
    original = numpy_helper.to_array(tensor)
    tensor.CopyFrom(numpy_helper.from_array(change(original.copy()).astype(original.dtype), initializer))
    path = model.with_name("perturbed.onnx")
    onnx.save(proto, str(path))
    return path
