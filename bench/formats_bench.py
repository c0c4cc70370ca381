"""The detector serving each format the converter makes: two detector processes, one with LOOP_MODEL_FORMATS=onnx
and one preferring onnx_int8 (then onnx_fp16), the same model, measured over REST in alternating rounds."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from loop_converter.onnx_converters import OnnxFp16Converter, OnnxInt8Converter
from loop_shared.model_package import extract_package, read_model_json

from .common import ORG, ms, node_env, percentiles, table, wait_for
from .detector_bench import load, per_thread, rest_caller


def converted_package(source: Path, converter: Any, calibration: list[Path], work: Path) -> bytes:
    target = work / f"bench-{converter.target_format}"
    target.mkdir(parents=True)
    model_json = read_model_json(source)
    additions = converter.convert(source, model_json, target, calibration)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(target / "model.onnx", "model.onnx")
        archive.writestr("model.json", json.dumps({**model_json, **additions, "format": converter.target_format}))
    return buffer.getvalue()


def _serves(url: str, fmt: str) -> bool:
    return bool(httpx.get(f"{url}/about").json()["model_format"] == fmt)


def run(name: str, package: Path, jpeg: bytes, calibration: list[Path], loop: httpx.Client, stub: Any, work: Path,
        start_node: Callable[..., Any], count: int) -> str:
    project = "formats"
    loop.post(f"/{ORG}/projects/generator", json={"project_name": project, "complete": 0, "box_categories": 1})
    model = loop.post(f"/{ORG}/projects/{project}/onnx", files={"files": ("m.zip", package.read_bytes())}).json()
    source = extract_package(package, work / "formats-source")
    for converter in (OnnxInt8Converter(), OnnxFp16Converter()):
        data = converted_package(source, converter, calibration, work)
        loop.put(f"/{ORG}/projects/{project}/models/{model['id']}/{converter.target_format}/file",
                 files={"files": ("m.zip", data)})
    loop.put(f"/{ORG}/projects/{project}/deployment/target", json={"model_uuid": model["id"]})
    detectors = {}
    for fmt in ("onnx", "onnx_int8", "onnx_fp16"):
        node = start_node("loop-detector", node_env(stub, work / f"formats-{fmt}", project, LOOP_MODEL_FORMATS=fmt,
                                                    LOOP_POLL_INTERVAL="0.5"))
        wait_for(partial(_serves, node.url, fmt), 120, f"a detector serving {fmt}")
        detectors[fmt] = per_thread(rest_caller(node.url, jpeg))
    for call in detectors.values():
        load(call, 4, 8)
    latencies: dict[str, list[float]] = {fmt: [] for fmt in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    rounds = 4
    for _ in range(rounds):  # alternating, so the shared machine's noise falls on every format alike
        for fmt, call in detectors.items():
            taken, rate = load(call, 4, max(4, count // rounds))
            latencies[fmt] += taken
            seconds[fmt] += len(taken) / rate
    rps = {fmt: len(latencies[fmt]) / seconds[fmt] for fmt in detectors}
    rows = [[fmt, f"{rps[fmt]:.1f}", ms(percentiles(latencies[fmt])["p50"]), f"{rps[fmt] / rps['onnx']:.2f}"]
            for fmt in detectors]
    return "\n".join([
        "## Detector by model format", "",
        f"The {name} served by three detector processes at once, each with its own LOOP_MODEL_FORMATS (onnx; "
        "onnx_int8: static INT8 calibrated on 32 project images; onnx_fp16), REST at concurrency 4, four "
        "alternating rounds per format in the same run.", "",
        table(["format served", "req/s", "p50 ms", "vs onnx"], rows), ""])
