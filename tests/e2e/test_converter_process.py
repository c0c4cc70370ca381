"""The seed README's converter scenario, played with curl against the stub Loop and converter processes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.prometheus import sample
from loop_testkit.received_counts import model_format_arrivals
from tests.conftest import ORG, node_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(*args: str) -> dict:
    return json.loads(subprocess.run(["curl", "-s", *args], capture_output=True, check=True, timeout=60).stdout)




def converter_env(stub: Service, data_dir: Path) -> dict[str, str]:
    env = node_env(stub, data_dir, "demo", LOOP_CONVERTER_LOGIC="tests.e2e.plugins:FormatAToB",
                   LOOP_POLL_INTERVAL="0.5", LOOP_RETRY_BASE="600", PYTHONPATH=str(ROOT))
    env.pop("LOOP_PROJECT")  # scan every project the converter can see
    env.pop("LOOP_ORGANIZATION")
    return env


def test_seed_scenario_and_a_corrupt_package_that_does_not_block(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "demo", "complete": 0})
    api = f"{stub.url}/api/{ORG}/projects/demo"
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("model.onnx", b"not an onnx model")
        archive.writestr("model.json", "{}")
    bad = curl("--request", "POST", "-F", f"files=@{broken}", f"{api}/format_a")
    my_model = grid_package(tmp_path / "my_model.zip", conv=True)
    model = curl("--request", "POST", "-F", f"files=@{my_model}", f"{api}/format_a")
    assert [m["id"] for m in curl(f"{api}/models?format=format_a")["models"]] == [bad["id"], model["id"]]
    assert curl(f"{api}/models?format=format_b") == {"models": []}

    converter = start_node("loop-converter", converter_env(stub, tmp_path / "converter"))

    def converted() -> list[dict]:
        return list(curl(f"{api}/models?format=format_b")["models"])

    wait_until(lambda: len(converted()) == 1, timeout=90, what="the converted model")
    [listed] = converted()
    assert (listed["id"], listed["version"], listed["formats"]) == (model["id"], "1.1", ["format_a", "format_b"])
    download = loop.get(f"/{ORG}/projects/demo/models/{model['id']}/format_b/file")
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        model_json = json.loads(archive.read("model.json"))
    assert model_json["format"] == "format_b" and model_json["quantization"] == "int8_dynamic"  # no images
    assert model_json["id"] == model["id"] and model_json["version"] == "1.1" and model_json["resolution"] == 64

    status = httpx.get(f"{converter.url}/status").json()
    [(key, failure)] = status["failures"].items()
    assert key.endswith(f"{bad['id']}/format_b")
    assert failure["status"] == "failed" and failure["attempts"] == 1 and "protobuf" in failure["reason"].lower()
    time.sleep(2)  # several polls: the failed model is not retried on every one
    assert converter.log().count("failed to convert") == 1
    assert not list((tmp_path / "converter" / "tmp").iterdir())  # temporary files are cleaned up
    metrics = httpx.get(f"{converter.url}/metrics").text
    assert sample(metrics, "loop_converter_conversions_total", result="converted") == 1
    assert sample(metrics, "loop_converter_conversions_total", result="failed") == 1
    assert sample(metrics, "loop_converter_conversion_seconds_count") == 1  # converted ones only
    assert sample(metrics, "loop_converter_backlog") == 1  # the broken model waits for its retry
    assert sample(metrics, "loop_converter_models", status="failed") == 1
    conversions = httpx.get(f"{converter.url}/conversions").json()["conversions"]
    assert {(c["model_id"], c["status"]) for c in conversions} == {(bad["id"], "failed"), (model["id"], "converted")}

    converter.stop()
    converter.start()
    converter.wait_ready(path="/ready")
    assert bad["id"] in json.dumps(httpx.get(f"{converter.url}/status").json()["failures"])


def test_two_replicas_convert_each_model_once(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "demo", "complete": 0})
    ids = []
    for i in range(3):
        package = grid_package(tmp_path / f"m{i}.zip", conv=True)
        ids.append(loop.post(f"/{ORG}/projects/demo/format_a", files={"files": (package.name, package.read_bytes())}
                             ).json()["id"])
    replicas = [start_node("loop-converter", {**converter_env(stub, tmp_path / f"c{i}"), "LOOP_REPLICAS": "2",
                                              "LOOP_REPLICA_INDEX": str(i)}) for i in range(2)]

    def all_converted() -> bool:
        models = loop.get(f"/{ORG}/projects/demo/models").json()["models"]
        return all(m["formats"] == ["format_a", "format_b"] for m in models)

    wait_until(all_converted, timeout=90, what="every model in format_b")
    time.sleep(1.5)
    models = loop.get(f"/{ORG}/projects/demo/models").json()["models"]
    assert [m["formats"] for m in models] == [["format_a", "format_b"]] * 3
    # what the replicas did, not what the stub kept (it answers a second upload with 409): three uploads the Loop
    # accepted in all, none answered 409, no conversion thrown away because the other replica was faster
    counts = {result: [sample(httpx.get(f"{r.url}/metrics").text, "loop_converter_conversions_total",
                              result=result) for r in replicas] for result in ("converted", "skipped", "failed")}
    assert sum(counts["converted"]) == 3 and counts["skipped"] == [0, 0] and counts["failed"] == [0, 0], counts
    # and at the wire: every upload that arrived at the stub, repeats and refused ones included, one per format
    assert model_format_arrivals(stub.url, ORG, "demo") == {
        **{(model_id, "format_a"): 1 for model_id in ids}, **{(model_id, "format_b"): 1 for model_id in ids}}
    for replica in replicas:
        assert "Traceback" not in replica.log() and "failed to convert" not in replica.log()


def test_the_accuracy_gate_publishes_the_good_model_and_refuses_the_fragile_one(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "gate", "complete": 24, "box_categories": 3,
                                                  "test_fraction": 0.25})
    ids = {}
    for name, fragile in (("robust", False), ("fragile", True)):
        package = grid_package(tmp_path / f"{name}.zip", size=128, cell=32, conv=True, fragile=fragile,
                               extra={"conf_threshold": 0.5})  # a trained model's scores: far from the threshold
        ids[name] = loop.post(f"/{ORG}/projects/gate/onnx", files={"files": (package.name, package.read_bytes())}
                              ).json()["id"]
    converter = start_node("loop-converter", node_env(stub, tmp_path / "converter", "gate", LOOP_POLL_INTERVAL="0.5"))

    def status() -> dict:
        return dict(httpx.get(f"{converter.url}/status").json())

    wait_until(lambda: status()["converted"] == 1 and status()["failures"], 90, "one converted, one refused")
    [(key, failure)] = status()["failures"].items()
    assert key.endswith(f"{ids['fragile']}/onnx_int8") and "LOOP_MAX_ACCURACY_DROP" in failure["reason"]
    assert failure["accuracy"]["measured"] is True and failure["accuracy"]["images"] == 6  # the test split
    assert failure["accuracy"]["accuracy_drop"] > 0.02
    models = {m["id"]: m["formats"] for m in loop.get(f"/{ORG}/projects/gate/models").json()["models"]}
    assert models == {ids["robust"]: ["onnx", "onnx_int8"], ids["fragile"]: ["onnx"]}
    download = loop.get(f"/{ORG}/projects/gate/models/{ids['robust']}/onnx_int8/file")
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        conversion = json.loads(archive.read("model.json"))["conversion"]
    assert conversion["measured"] is True and conversion["images"] == 6 and conversion["accuracy_drop"] <= 0.02
    assert conversion["reference"] == "the source model's detections" and conversion["source_detections"] > 0
