"""Converter benchmark: size and inference time of each converted model against its source."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from loop_converter.accuracy import measure
from loop_converter.onnx_converters import OnnxFp16Converter, OnnxInt8Converter
from loop_shared.model_package import extract_package, read_model_json

from .common import ms, percentiles, table


def session_time(path: Path, runs: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    tensor = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in model_input.shape],
                                             dtype=np.float32)
    session.run(None, {model_input.name: tensor})
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, {model_input.name: tensor})
        samples.append(time.perf_counter() - started)
    return percentiles(samples)["p50"]


def run(work: Path, models: dict[str, tuple[Path, int]], calibration: list[Path],
        test_images: dict[str, list[Path]]) -> str:
    """`test_images`: per model, images none of the calibration saw, for the accuracy of each conversion."""
    rows, accuracy = [], []
    for name, (package, runs) in models.items():
        source = extract_package(package, work / f"conv-src-{name.split()[0]}", require_model_json=False)
        base_time, base_size = session_time(source / "model.onnx", runs), (source / "model.onnx").stat().st_size
        rows.append([name, "onnx (source)", f"{base_size / 1e6:.2f}", ms(base_time), "1.00"])
        for converter in (OnnxInt8Converter(), OnnxFp16Converter()):
            target = work / f"conv-{converter.target_format}-{name.split()[0]}"
            target.mkdir()
            started = time.perf_counter()
            additions = converter.convert(source, read_model_json(source) if (source / "model.json").exists()
                                          else {}, target, calibration)
            took = time.perf_counter() - started
            t = session_time(target / "model.onnx", runs)
            kind = additions.get("quantization") or additions.get("precision")
            rows.append([name, f"{converter.target_format}: {kind} (converted in {took:.1f} s)",
                         f"{(target / 'model.onnx').stat().st_size / 1e6:.2f}", ms(t), f"{base_time / t:.2f}"])
            if name in test_images:
                figures = measure(source / "model.onnx", target / "model.onnx", test_images[name],
                                  read_model_json(source))
                accuracy.append([name, converter.target_format, str(len(test_images[name])),
                                 f"{figures['map50_vs_source']:.3f}", f"**{figures['accuracy_drop']:.3f}**",
                                 f"{figures['score_drift_mean']:.3f}"])
    return "\n".join(["## Converter", "",
                      "ONNX Runtime on CPU, one intra-op thread, `session.run` p50 on the model's input size. "
                      "INT8 is calibrated (static, QDQ) on 32 of the project's images.", "",
                      table(["model", "format", "size (MB)", "run p50 (ms)", "speed-up"], rows), "",
                      "Accuracy of each conversion of the small model (trained on the `hard` project) on that "
                      "project's test images, which calibration never saw: mAP@0.5 of the converted model against "
                      "the source model's own detections (the converter's gate; LOOP_MAX_ACCURACY_DROP, default "
                      "0.02, is the most the drop may be).", "",
                      table(["model", "format", "test images", "mAP@0.5 vs source", "drop", "mean score drift"],
                            accuracy), ""])
