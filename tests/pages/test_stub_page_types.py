"""The stub Loop's page in a real browser on segmentation and classification data: a generated segmentation
project's polygons are drawn on its pictures, an image's classification annotation and detections are listed in
its corner; the header links the annotation page."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_testkit.processes import Service
from loop_testkit.scenes import encode_jpeg
from stub_loop.store import Store
from tests.conftest import ORG
from tests.pages.conftest import console_errors, screenshot, wait_for

PROJECT = "typegallery"
THUMBS = "#images .thumb"


def thumb_pixel(browser: WebDriver, image_id: str, x: int, y: int) -> np.ndarray:
    return np.array(browser.execute_script(
        "const c = document.querySelector(`.thumb[data-image-id='${arguments[0]}'] canvas`);"
        "return Array.from(c.getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data).slice(0, 3);",
        image_id, x, y))


def seed_classified_image(data_dir: Path, categories: list[dict[str, str]]) -> str:
    """An image with a classification annotation and two classification detections, put into the stub's store
    as its routes would (the generator's classification projects are another change)."""
    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.circle(image, (80, 60), 30, (215, 40, 40), -1)
    first, second = categories
    record = {"state": "complete", "set": "train", "width": 160, "height": 120, "tags": [], "source": "test",
              "box_annotations": [], "point_annotations": [], "segmentation_annotations": [],
              "classification_annotation": {"category_name": first["name"], "category_id": first["id"]},
              "box_detections": [], "point_detections": [], "segmentation_detections": [],
              "classification_detections": [
                  {"category_name": second["name"], "category_id": second["id"], "model_name": "1.0",
                   "confidence": 0.25},
                  {"category_name": first["name"], "category_id": first["id"], "model_name": "1.0",
                   "confidence": 0.8}]}
    store = Store(data_dir)
    try:
        image_id, _ = store.add_image(ORG, PROJECT, encode_jpeg(image), record)
    finally:
        store.close()
    return image_id


def test_segmentation_polygons_and_classification_labels_are_shown(
        stub: Service, stub_env: dict[str, str], loop: httpx.Client, browser: WebDriver, output_dir: Path) -> None:
    body = {"project_name": PROJECT, "complete": 3, "box_categories": 0, "point_categories": 0,
            "segmentation_categories": 1, "seed": 5}
    assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200
    ids = loop.get(f"/{ORG}/projects/{PROJECT}/data").json()["image_ids"]
    images = {i["id"]: i for i in loop.get(f"/{ORG}/projects/{PROJECT}/images",
                                           params={"ids": ",".join(ids)}).json()["images"]}
    classified = seed_classified_image(Path(stub_env["LOOP_DATA_DIR"]),
                                       [{"id": "class-circles", "name": "circles"},
                                        {"id": "class-squares", "name": "squares"}])

    browser.get(f"{stub.url}/#{ORG}/{PROJECT}")
    assert browser.find_element(By.CSS_SELECTOR, "nav a[href='/annotate']").text == "annotate"
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, f"{THUMBS} canvas[data-classes]")) == 4,
             "all four pictures drawn")

    # every generated image: its polygons drawn (dashed white outline, a light fill inside)
    for image_id in ids:
        polygons = images[image_id]["segmentation_annotations"]
        assert polygons
        canvas = browser.find_element(By.CSS_SELECTOR, f".thumb[data-image-id='{image_id}'] canvas")
        assert canvas.get_attribute("data-annotated") == str(len(polygons))
        picture = cv2.cvtColor(cv2.imdecode(np.frombuffer(httpx.get(
            f"{stub.url}/ui/{ORG}/{PROJECT}/images/{image_id}.jpg").content, np.uint8), cv2.IMREAD_COLOR),
            cv2.COLOR_BGR2RGB)
        mask = np.zeros(picture.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.array([(p["x"], p["y"]) for p in polygons[0]["shape"]["points"]], np.int32)], 1)
        ys, xs = np.nonzero(cv2.erode(mask, np.ones((9, 9), np.uint8)))
        for y, x in list(zip(ys.tolist(), xs.tolist(), strict=True))[:: max(1, len(ys) // 5)]:
            seen = thumb_pixel(browser, image_id, x, y)
            expected = 0.7 * picture[y, x] + 0.3 * 255  # 30 % white over the picture
            assert np.abs(seen - expected).max() < 16, (image_id, x, y, seen, expected)
    screenshot(browser, output_dir / "stub-segmentation.png")

    # the seeded image: the annotation's class first, then the detections, most confident first
    canvas = browser.find_element(By.CSS_SELECTOR, f".thumb[data-image-id='{classified}'] canvas")
    assert canvas.get_attribute("data-classes") == "circles; circles 80%; squares 25%"
    caption = browser.find_element(By.CSS_SELECTOR, f".thumb[data-image-id='{classified}'] .caption").text
    assert "1 ann. · 2 det." in caption
    circles = browser.execute_script("return Loop.colourOf('circles', [])")
    colour = np.array([int(circles[i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(thumb_pixel(browser, classified, 6, 28) - colour).max() < 12  # the detection's label
    assert np.abs(thumb_pixel(browser, classified, 80, 100) - 90).max() < 12  # the picture below the labels
    screenshot(browser, output_dir / "stub-classification.png")
    assert console_errors(browser) == []
