"""The stub Loop as a separate process: the node-facing API, the generator, persistence, and bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import httpx
import numpy as np

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service
from tests.conftest import ORG


def generate(loop: httpx.Client, name: str = "proj", **counts: int) -> dict:
    body = {"project_name": name, "complete": 10, "inbox": 3, "box_categories": 2, "point_categories": 1, **counts}
    response = loop.post(f"/{ORG}/projects/generator", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def outbox_files(stem: str, metadata: dict, jpeg: bytes) -> list:
    return [("files", (f"{stem}.json", json.dumps(metadata).encode(), "application/json")),
            ("files", (f"{stem}.jpg", jpeg, "image/jpeg"))]


def test_login_protects_node_endpoints(stub: Service) -> None:
    with httpx.Client(base_url=stub.url + "/api") as anonymous:
        assert anonymous.get("/status").status_code == 200
        assert anonymous.get(f"/{ORG}/projects/demo/data").status_code == 401
        assert anonymous.post("/login", data={"username": "tester", "password": "wrong"}).status_code == 401
        assert anonymous.post("/login", data={"username": "tester", "password": "s3cret-pass"}).status_code == 200
        assert "session" in anonymous.cookies


def test_generated_project_has_exact_annotations_and_real_jpegs(loop: httpx.Client) -> None:
    summary = generate(loop)
    assert [c["type"] for c in summary["categories"]] == ["box", "box", "point"]
    complete = loop.get(f"/{ORG}/projects/proj/data", params={"state": "complete"}).json()["image_ids"]
    assert len(complete) == 10
    assert len(loop.get(f"/{ORG}/projects/proj/data", params={"state": "inbox"}).json()["image_ids"]) == 3
    images = loop.get(f"/{ORG}/projects/proj/images", params={"ids": ",".join(complete)}).json()["images"]
    assert {i["set"] for i in images} == {"train", "test"}
    box = next(b for i in images for b in i["box_annotations"])
    jpeg = loop.get(f"/{ORG}/projects/proj/images/{box['image_id']}/main").content
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    inside = rgb[box["y"] + box["height"] // 2, box["x"] + box["width"] // 2].astype(int)
    colour = next(c["color"] for c in summary["categories"] if c["id"] == box["category_id"])
    expected = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    if box["category_name"] != "magenta ring":
        assert np.abs(inside - expected).max() < 60  # the box's centre shows the category's colour


def test_the_same_generator_request_makes_the_same_images_under_the_same_ids(loop: httpx.Client) -> None:
    def snapshot(name: str, **change: int) -> dict[str, tuple]:
        generate(loop, name, complete=6, inbox=2, **change)
        ids = loop.get(f"/{ORG}/projects/{name}/data").json()["image_ids"]
        images = loop.get(f"/{ORG}/projects/{name}/images", params={"ids": ",".join(ids)}).json()["images"]
        return {i["id"]: (i["set"], i["state"], [(b["x"], b["y"], b["width"], b["height"])
                                                  for b in i["box_annotations"]],
                          loop.get(f"/{ORG}/projects/{name}/images/{i['id']}/main").content) for i in images}

    first = snapshot("same")
    assert len(first) == 8
    assert snapshot("same") == first  # generated again: the same ids, sets, boxes and bytes
    assert not set(snapshot("same", seed=1)) & set(first)  # another request: all ids new (no stale caches)
    assert not set(snapshot("other")) & set(first)


def test_outbox_upload_pairs_by_name_dedupes_and_refuses_broken_items(loop: httpx.Client, stub: Service) -> None:
    generate(loop)
    _, jpeg = cv2.imencode(".jpg", np.full((40, 60, 3), 128, np.uint8))
    meta = {"box_detections": [{"category_name": "red circle", "x": 1, "y": 2, "width": 3, "height": 4,
                                "model_name": "1.0", "confidence": 0.5}], "tags": ["uncertain"], "source": "cam"}
    with httpx.Client(base_url=stub.url + "/api") as anonymous:  # the outbox sends no cookie
        files = outbox_files("image_2026-01-01_10%3A00%3A00.1", meta, jpeg.tobytes())
        first = anonymous.post(f"/{ORG}/projects/proj/images", files=files)
        again = anonymous.post(f"/{ORG}/projects/proj/images", files=files)
        broken = anonymous.post(f"/{ORG}/projects/proj/images", files=outbox_files("image_x", meta, b"not a jpeg"))
    assert first.json() == {"stored": 1, "duplicates": 0}
    assert again.json() == {"stored": 0, "duplicates": 1}
    assert broken.status_code == 422 and "image_x" in broken.json()["detail"]
    inbox = loop.get(f"/{ORG}/projects/proj/data", params={"state": "inbox"}).json()["image_ids"]
    assert len(inbox) == 4
    uploaded = loop.get(f"/{ORG}/projects/proj/images", params={"ids": inbox[-1]}).json()["images"][0]
    assert uploaded["tags"] == ["uncertain"] and uploaded["source"] == "cam"
    assert uploaded["box_detections"][0]["confidence"] == 0.5 and (uploaded["width"], uploaded["height"]) == (60, 40)


def test_models_upload_list_download_and_deployment(loop: httpx.Client, tmp_path: Path) -> None:
    generate(loop)
    package = grid_package(tmp_path / "grid.zip")
    with open(package, "rb") as f:
        uploaded = loop.post(f"/{ORG}/projects/proj/format_a", files={"files": ("my_model.zip", f)}).json()
    assert uploaded["version"] == "1.0" and uploaded["formats"] == ["format_a"]
    assert [m["id"] for m in loop.get(f"/{ORG}/projects/proj/models", params={"format": "format_a"}).json()["models"]]\
        == [uploaded["id"]]
    assert loop.get(f"/{ORG}/projects/proj/models", params={"format": "format_b"}).json() == {"models": []}
    download = loop.get(f"/{ORG}/projects/proj/models/{uploaded['id']}/format_a/file")
    assert 'filename="proj_1.0_format_a.zip"' in download.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        model_json = json.loads(archive.read("model.json"))
        assert sorted(archive.namelist()) == ["model.json", "model.onnx"]
    assert {k: model_json[k] for k in ("id", "version", "organization", "project", "format")} == \
        {"id": uploaded["id"], "version": "1.0", "organization": ORG, "project": "proj", "format": "format_a"}
    assert model_json["resolution"] == 64 and model_json["host"]
    # a converter adds a format; the second upload of the same format is a 409 with the id
    put = f"/{ORG}/projects/proj/models/{uploaded['id']}/format_b/file"
    assert loop.put(put, files={"files": ("m.zip", package.read_bytes())}).json() == {"id": uploaded["id"]}
    conflict = loop.put(put, files={"files": ("m.zip", package.read_bytes())})
    assert conflict.status_code == 409 and conflict.json() == {"detail": {"id": uploaded["id"]}}
    assert loop.get(f"/{ORG}/projects/proj/deployment/target").status_code == 404
    assert loop.put(f"/{ORG}/projects/proj/deployment/target", json={"version": "1.0"}).status_code == 200
    assert loop.get(f"/{ORG}/projects/proj/deployment/target").json() == {"model_uuid": uploaded["id"],
                                                                           "version": "1.0"}


def test_state_survives_a_restart(stub: Service, loop: httpx.Client, tmp_path: Path) -> None:
    generate(loop)
    with open(grid_package(tmp_path / "grid.zip"), "rb") as f:
        loop.post(f"/{ORG}/projects/proj/onnx", files={"files": ("m.zip", f)})
    loop.post(f"/{ORG}/projects/proj/detectors", json={"uuid": "d1", "name": "det", "model_format": "onnx"})
    stub.stop()
    stub.start()
    with httpx.Client(base_url=stub.url + "/api") as fresh:
        fresh.post("/login", data={"username": "tester", "password": "s3cret-pass"})
        assert len(fresh.get(f"/{ORG}/projects/proj/data").json()["image_ids"]) == 13
        assert fresh.get(f"/{ORG}/projects/proj/models").json()["models"][0]["version"] == "1.0"
        assert fresh.get(f"/{ORG}/projects/proj/detectors").json()["detectors"][0]["uuid"] == "d1"
    # the old session cookie is still valid after the restart
    assert loop.get(f"/{ORG}/projects/proj/data").status_code == 200


def test_malformed_requests_get_4xx_with_a_message(loop: httpx.Client, stub: Service) -> None:
    generate(loop)
    cases = [
        loop.post(f"/{ORG}/projects/generator", json={"project_name": "../x"}),
        loop.post(f"/{ORG}/projects/generator", content=b"{not json", headers={"content-type": "application/json"}),
        loop.post(f"/{ORG}/projects/generator", json={"project_name": "p", "box_categories": 99}),
        loop.get(f"/{ORG}/projects/nope/data"),
        loop.get(f"/{ORG}/projects/proj/data", params={"state": "bogus"}),
        loop.post(f"/{ORG}/projects/proj/images", content=b"x", headers={"content-type": "multipart/form-data"}),
        loop.post(f"/{ORG}/projects/proj/images", files={"files": ("a.txt", b"x")}),
        loop.post(f"/{ORG}/projects/proj/onnx", files={"files": ("m.zip", b"not a zip")}),
        loop.post(f"/{ORG}/projects/proj/bad%20format", files={"files": ("m.zip", b"x")}),
        loop.put(f"/{ORG}/projects/proj/deployment/target", json={"version": "9.9"}),
        loop.put(f"/{ORG}/projects/proj/deployment/target", json=[1, 2]),
        loop.post(f"/{ORG}/projects/proj/detections", json=[{"image_id": None}]),
        loop.post(f"/{ORG}/projects/proj/detectors", json={"uuid": "x"}),
        loop.get(f"/{ORG}/projects/proj/models/nope/onnx/file"),
        loop.post(f"/{ORG}/projects/proj/trainings", json={"base_model_uuid": "nope"}),
        loop.post(f"/{ORG}/projects/proj/trainings"),
        # found by fuzzing (issue 11 point 6): each was a 500
        loop.post("/login", data={"username": "tester", "password": "s3cret-päss"}),
        loop.post("/login", data={"username": "日本語", "password": "s3cret-pass"}),
        loop.get(f"/{ORG}/projects/proj/trainings/{2**64}"),
        loop.post(f"/{ORG}/projects/proj/trainings/{-(2**63) - 1}/stop"),
        loop.put(f"/{ORG}/projects/proj/trainings/{2**63}/models/latest/onnx/file", files={"files": ("m", b"x")}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code, response.text)
        assert response.json()["detail"], response.text
    assert "Traceback" not in stub.log()
