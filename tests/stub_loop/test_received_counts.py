"""The stub Loop counts every upload as it arrives (repeats, refused and duplicate ones included), serves the counts
at `GET /api/stats/received` and `/metrics`, and keeps them across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import httpx
import numpy as np

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service
from loop_testkit.prometheus import sample
from loop_testkit.received_counts import detection_arrivals, image_arrivals, model_format_arrivals, received
from tests.conftest import ORG


def jpeg(grey: int) -> bytes:
    return cv2.imencode(".jpg", np.full((40, 60, 3), grey, np.uint8))[1].tobytes()


def parts(stem: str, image: bytes) -> list:
    meta = {"tags": ["uncertain"], "source": "cam"}
    return [("files", (f"{stem}.json", json.dumps(meta).encode(), "application/json")),
            ("files", (f"{stem}.jpg", image, "image/jpeg"))]


def test_repeated_images_are_counted_though_stored_once(loop: httpx.Client, stub: Service) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "proj"})
    images = f"{stub.url}/api/{ORG}/projects/proj/images"
    a = parts("image_2026-01-01_10:00:00.000001", jpeg(100))
    same_identifier_other_detector = parts("image_2026-01-01_10:00:00.000001", jpeg(200))
    assert httpx.post(images, files=a).json() == {"stored": 1, "duplicates": 0}
    assert httpx.post(images, files=a).json() == {"stored": 0, "duplicates": 1}
    assert httpx.post(images, files=same_identifier_other_detector).json() == {"stored": 1, "duplicates": 0}
    broken = httpx.post(images, files=[*parts("image_b", jpeg(50)), *parts("image_x", b"not a jpeg")])
    assert broken.status_code == 422  # refused as a whole, but both items arrived
    assert len(loop.get(f"/{ORG}/projects/proj/data", params={"state": "inbox"}).json()["image_ids"]) == 2

    arrivals = image_arrivals(stub.url, ORG, "proj")
    by_identifier = sorted((k.partition("#")[0], n) for k, n in arrivals.items())
    assert by_identifier == [("2026-01-01_10:00:00.000001", 1), ("2026-01-01_10:00:00.000001", 2), ("b", 1),
                             ("x", 1)]
    listing = received(stub.url, organization=ORG, project="proj")
    assert listing["summary"]["images"] == {"received": 5, "distinct": 4, "repeats": 1}
    [repeat] = received(stub.url, repeated="true")["images"]
    assert repeat["count"] == 2 and repeat["identifier"] == "2026-01-01_10:00:00.000001"
    assert received(stub.url, project="other")["images"] == []
    metrics = httpx.get(f"{stub.url}/metrics").text
    assert sample(metrics, "loop_stub_received_images_total", organization=ORG, project="proj") == 5
    assert sample(metrics, "loop_stub_received_image_repeats", organization=ORG, project="proj") == 1


def test_repeated_model_formats_are_counted_though_refused(loop: httpx.Client, stub: Service, tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "proj"})
    package = grid_package(tmp_path / "grid.zip").read_bytes()
    model = loop.post(f"/{ORG}/projects/proj/format_a", files={"files": ("m.zip", package)}).json()
    put = f"/{ORG}/projects/proj/models/{model['id']}/format_b/file"
    assert loop.put(put, files={"files": ("m.zip", package)}).status_code == 200
    assert loop.put(put, files={"files": ("m.zip", package)}).status_code == 409  # the store hides this one
    assert loop.get(f"/{ORG}/projects/proj/models").json()["models"][0]["formats"] == ["format_a", "format_b"]

    assert model_format_arrivals(stub.url, ORG, "proj") == {(model["id"], "format_a"): 1, (model["id"], "format_b"): 2}
    metrics = httpx.get(f"{stub.url}/metrics").text
    assert sample(metrics, "loop_stub_received_model_uploads_total", project="proj", format="format_b") == 2
    assert sample(metrics, "loop_stub_received_model_upload_repeats", project="proj", format="format_b") == 1
    assert sample(metrics, "loop_stub_received_model_upload_repeats", project="proj", format="format_a") == 0

    stub.stop()
    stub.start()
    assert model_format_arrivals(stub.url, ORG, "proj") == {(model["id"], "format_a"): 1, (model["id"], "format_b"): 2}


def test_repeated_detections_are_counted_per_image(loop: httpx.Client, stub: Service) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "proj", "complete": 2})
    first, second = loop.get(f"/{ORG}/projects/proj/data").json()["image_ids"]
    assert loop.post(f"/{ORG}/projects/proj/detections", json=[{"image_id": first}]).status_code == 200
    both = [{"image_id": first}, {"image_id": second}]
    assert loop.post(f"/{ORG}/projects/proj/detections", json=both).status_code == 200
    assert detection_arrivals(stub.url, ORG, "proj") == {first: 2, second: 1}
    assert received(stub.url, organization=ORG, project="proj")["summary"]["detections"] == {
        "received": 3, "distinct": 2, "repeats": 1}
    metrics = httpx.get(f"{stub.url}/metrics").text
    assert sample(metrics, "loop_stub_received_detections_total", organization=ORG, project="proj") == 3
    assert sample(metrics, "loop_stub_received_detection_repeats", organization=ORG, project="proj") == 1


def test_bad_filters_get_422(stub: Service) -> None:
    response = httpx.get(f"{stub.url}/api/stats/received", params={"repeated": "sometimes"})
    assert response.status_code == 422 and "repeated" in response.text
