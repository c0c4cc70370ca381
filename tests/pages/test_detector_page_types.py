"""The detector's page in a real browser on an instance-segmentation model and an image classifier (the test kit's
ONNX models, served by a real detector process): a mask is filled and outlined in its category's colour, the
image's class is listed in the picture's corner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_testkit.onnx_classifier import build_classifier_onnx
from loop_testkit.onnx_models import grid_categories
from loop_testkit.onnx_segmenter import build_segmenter_onnx, write_package
from loop_testkit.processes import Service, wait_until
from tests.conftest import ORG, node_env
from tests.detector import test_segmentation_logic as segmentation
from tests.pages.conftest import console_errors, screenshot, wait_for

PROJECT = "pagetypes"
ROWS = "#detection-table tbody tr"


def rgb_of(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def pixel(browser: WebDriver, x: float, y: float) -> np.ndarray:
    return np.array(browser.execute_script(
        "const c = document.getElementById('canvas');"
        "return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data).slice(0, 3);",
        round(x), round(y)))


def deploy(loop: httpx.Client, package: Path) -> str:
    response = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": (package.name, package.read_bytes())})
    assert response.status_code == 200, response.text
    version = str(response.json()["version"])
    assert loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version}).status_code == 200
    return version


def test_masks_are_filled_and_classes_listed_on_the_detector_page(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], browser: WebDriver,
        output_dir: Path, tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0, "box_categories": 0})
    deploy(loop, write_package(tmp_path / "segmenter.zip",
                               build_segmenter_onnx(segmentation.SIZE, segmentation.candidates("letterbox")),
                               {"resolution": segmentation.SIZE, "categories": segmentation.CATEGORIES}))
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.3"))
    detector.wait_ready(path="/ready")
    scene = segmentation.scene()
    picture = tmp_path / "scene.png"
    picture.write_bytes(cv2.imencode(".png", cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))[1].tobytes())

    browser.get(detector.url)
    wait_for(browser, lambda b: "blob" in b.find_element(By.ID, "model").text, "the segmenter's categories")
    browser.find_element(By.ID, "file").send_keys(str(picture))
    rows = wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ROWS)) == 4 and
                    b.find_elements(By.CSS_SELECTOR, ROWS), "the four detections")
    kinds = sorted(r.find_elements(By.TAG_NAME, "td")[1].text for r in rows)
    assert kinds == ["box", "point", "segmentation", "segmentation"]
    canvas = browser.find_element(By.ID, "canvas")
    scale = int(str(canvas.get_attribute("width"))) / segmentation.WIDTH
    blob = rgb_of(browser.execute_script("return Loop.colourOf('blob', [])"))
    (cx, cy), radius = segmentation.DISC
    # inside the red disc: the picture with 30 % of the category's colour over it
    inside = pixel(browser, cx * scale, (cy + radius / 2) * scale)
    assert np.abs(inside - (0.7 * np.array([255, 0, 0]) + 0.3 * blob)).max() < 12, inside
    # just outside the disc the black background is left as it is; on its edge, the outline in the category colour
    assert pixel(browser, (cx - radius - 4) * scale, cy * scale).max() < 12
    edge = [pixel(browser, (cx - radius) * scale + dx, cy * scale) for dx in range(-4, 5)]
    assert min(np.abs(p - blob).max() for p in edge) < 30, edge
    screenshot(browser, output_dir / "detector-segmentation.png")

    classes = grid_categories(("red", "green", "blue"), ("classification",) * 3)
    version = deploy(loop, write_package(tmp_path / "classifier.zip", build_classifier_onnx(32, gain=10.0),
                                         {"categories": classes, "scores": "logits",
                                          "output_layout": "classification"}))
    wait_until(lambda: (httpx.get(f"{detector.url}/status").json()["model"] or {}).get("version") == version,
               timeout=60, what=f"the classifier {version} serving")
    wait_for(browser, lambda b: "red" in b.find_element(By.ID, "model").text, "the classifier's categories")
    brown = tmp_path / "brown.png"
    brown.write_bytes(cv2.imencode(".png", np.full((120, 160, 3), (26, 77, 153), np.uint8))[1].tobytes())  # BGR
    browser.find_element(By.ID, "file").send_keys(str(brown))
    wait_for(browser, lambda b: "red" in (b.find_element(By.ID, "canvas").get_attribute("data-classes") or ""),
             "the class label on the picture")
    label = str(browser.find_element(By.ID, "canvas").get_attribute("data-classes"))
    assert label.startswith("red ") and label.endswith("%")
    [row] = browser.find_elements(By.CSS_SELECTOR, ROWS)
    assert [c.text for c in row.find_elements(By.TAG_NAME, "td")[:2]] == ["red", "classification"]
    red = rgb_of(browser.execute_script("return Loop.colourOf('red', [])"))
    assert np.abs(pixel(browser, 8, 8) - red).max() < 12  # the label's background, in the top-left corner
    assert np.abs(pixel(browser, 300, 200) - np.array([153, 77, 26])).max() < 12  # the picture elsewhere
    screenshot(browser, output_dir / "detector-classification.png")
    assert console_errors(browser) == []
