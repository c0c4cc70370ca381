"""The converter process converts a segmentation model and a classifier (INT8 and FP16), checks them with the
gate of their layout and uploads them: counted at the stub's receive counters."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import model_format_arrivals
from tests.conftest import ORG, node_env
from tests.converter.category_models import classification_package, segmentation_package

PROJECT = "kinds"
FP16 = "loop_converter.onnx_converters:OnnxFp16Converter"


def upload(loop: httpx.Client, package: Path) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("model.onnx", "model.json"):
            zipped.write(package / name, name)
    response = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": (f"{package.name}.zip",
                                                                                archive.getvalue())})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_segmentation_and_classification_models_are_converted_checked_and_uploaded(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 24, "box_categories": 3,
                                                  "test_fraction": 0.25})
    ids = {"segmentation": upload(loop, segmentation_package(tmp_path / "segmenter")),
           "classification": upload(loop, classification_package(tmp_path / "classifier"))}
    converters = [start_node("loop-converter", node_env(stub, tmp_path / "int8", PROJECT, LOOP_POLL_INTERVAL="0.5")),
                  start_node("loop-converter", node_env(stub, tmp_path / "fp16", PROJECT, LOOP_POLL_INTERVAL="0.5",
                                                        LOOP_CONVERTER_LOGIC=FP16))]

    def converted() -> list[int]:
        return [int(httpx.get(f"{c.url}/status").json()["converted"]) for c in converters]

    wait_until(lambda: converted() == [2, 2], 120, "both models in INT8 and FP16")
    # what the converters sent, counted where it arrived: one upload per model and format, no repeats
    assert model_format_arrivals(stub.url, ORG, PROJECT) == {
        (model_id, fmt): 1 for model_id in ids.values() for fmt in ("onnx", "onnx_int8", "onnx_fp16")}
    for converter in converters:
        status = httpx.get(f"{converter.url}/status").json()
        assert status["failures"] == {} and "Traceback" not in converter.log()
    for fmt in ("onnx_int8", "onnx_fp16"):
        packages = {}
        for kind, model_id in ids.items():
            download = loop.get(f"/{ORG}/projects/{PROJECT}/models/{model_id}/{fmt}/file")
            with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
                packages[kind] = json.loads(archive.read("model.json"))
        segmentation, classification = packages["segmentation"], packages["classification"]
        assert segmentation["format"] == fmt and segmentation["output_layout"] == "ultralytics_segment"
        figures = segmentation["conversion"]
        assert figures["measured"] is True and figures["layout"] == "ultralytics_segment", figures
        images = 6 if fmt == "onnx_int8" else 24  # the test split; the project's 24 when calibration used none
        assert figures["images"] == images and figures["source_masks"] > 0 and figures["mask_accuracy_drop"] <= 0.02
        assert classification["output_layout"] == "classification" and classification["scores"] == "probabilities"
        figures = classification["conversion"]
        assert figures["layout"] == "classification" and figures["images"] == images, figures
        assert figures["top1_agreement"] >= 0.98 and figures["probability_difference_mean"] <= 0.03
