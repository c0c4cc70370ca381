"""The README's first curl: the demo model finds the demo image's objects; `?draw=true` answers a JPEG."""

from __future__ import annotations

import cv2
import httpx
import numpy as np

from loop_testkit.processes import Service
from loop_testkit.scene_matching import all_found, match_truth


def test_the_demo_model_finds_the_objects_of_the_demo_image(demo_stub: Service, demo_detector: Service) -> None:
    image = httpx.get(f"{demo_stub.url}/demo.jpg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    truth = httpx.get(f"{demo_stub.url}/demo.json").json()
    assert truth["id"] == image.headers["x-image-id"] and truth["set"] == "test"
    found = httpx.post(f"{demo_detector.url}/detect", files={"file": ("demo.jpg", image.content)}).json()
    matches = match_truth(truth, found)
    assert len(matches) >= 2 and all_found(matches), (matches, found)
    categories = {c["name"] for c in httpx.get(f"{demo_detector.url}/about").json()["model_info"]["categories"]}
    assert categories == {"red circle", "blue square", "purple point"}
    assert "unexpected_observations_count" not in found["tags"]


def test_draw_answers_the_image_with_the_detections_drawn(demo_stub: Service, demo_detector: Service) -> None:
    jpeg = httpx.get(f"{demo_stub.url}/demo.jpg").content
    drawn = httpx.post(f"{demo_detector.url}/detect", params={"draw": "true"}, files={"file": ("demo.jpg", jpeg)})
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/jpeg"
    original = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    picture = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == original.shape
    found = httpx.post(f"{demo_detector.url}/detect", files={"file": ("demo.jpg", jpeg)},
                       headers={"autoupload": "disabled"}).json()
    difference = np.abs(picture.astype(int) - original.astype(int)).sum(axis=2)
    untouched = np.ones(difference.shape, bool)  # away from every detection and its label: JPEG noise only
    for d in found["box_detections"] + found["point_detections"]:
        x, y = int(d["x"]), int(d["y"])
        w, h = d.get("width", 0), d.get("height", 0)
        untouched[max(0, y - 40):y + h + 40, max(0, x - 40):x + w + 200] = False
    for box in found["box_detections"]:  # the label and the top edge of each box
        x, y, w = box["x"], box["y"], box["width"]
        band = difference[max(0, y - 16):y + 2, max(0, x - 1):x + w + 1]
        assert band.mean() > 40 > 4 * difference[untouched].mean(), (box, band.mean(), difference[untouched].mean())

    for params, files, expected in [({"draw": "true"}, {"file": ("x.jpg", b"no image")}, 422),
                                    ({"draw": "maybe"}, {"file": ("demo.jpg", jpeg)}, 422),
                                    ({"draw": "true"}, {"files": ("demo.jpg", jpeg)}, 422)]:
        url = f"{demo_detector.url}/detect" + ("/batch" if "files" in files else "")
        answer = httpx.post(url, params=params, files=files)
        assert answer.status_code == expected and answer.headers["content-type"] == "application/json", answer.text
        assert answer.json()["detail"]
