"""The detector's page in a real browser: pick the demo image, see its objects drawn, filter by confidence."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_testkit.processes import Service
from tests.pages.conftest import console_errors, requested_urls, screenshot, wait_for

ROWS = "#detection-table tbody tr"


def pixel(browser: WebDriver, x: float, y: float) -> list[int]:
    return list(browser.execute_script(
        "const c = document.getElementById('canvas');"
        "return Array.from(c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data).slice(0, 3);",
        round(x), round(y)))


def test_the_page_draws_the_boxes_of_the_demo_image(demo_stub: Service, demo_detector: Service, browser: WebDriver,
                                                    output_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "demo.jpg"
    image.write_bytes(httpx.get(f"{demo_stub.url}/demo.jpg").content)
    truth = httpx.get(f"{demo_stub.url}/demo.json").json()
    colours = {c["name"]: c["color"] for c in httpx.get(f"{demo_detector.url}/status").json()["model"]["categories"]}
    browser.get(demo_detector.url)
    wait_for(browser, lambda b: "1.0" in b.find_element(By.ID, "model").text, "the served model on the page")
    browser.find_element(By.ID, "file").send_keys(str(image))
    rows = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ROWS), "the detections table")
    objects = truth["box_annotations"] + truth["point_annotations"]
    names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
    assert sorted(names) == sorted(o["category_name"] for o in objects)
    canvas = browser.find_element(By.ID, "canvas")
    assert int(canvas.get_attribute("data-drawn")) == len(objects)

    def answered(b: WebDriver) -> int:  # the /detect row of the request table: answers with 2xx
        rows = [r.find_elements(By.TAG_NAME, "td") for r in b.find_elements(By.CSS_SELECTOR, "#requests tr")]
        return sum(int(cells[1].text) for cells in rows if cells and cells[0].text == "/detect")

    wait_for(browser, answered, "the page's own request among the request counts")
    assert "continuous upload" in browser.find_element(By.ID, "outbox").text
    screenshot(browser, output_dir / "detector-page.png")

    # the left edge of each box is drawn in its category's colour, at the scale the canvas shows the image
    found = httpx.post(f"{demo_detector.url}/detect", files={"file": ("demo.jpg", image.read_bytes())},
                       headers={"autoupload": "disabled"}).json()
    scale = int(canvas.get_attribute("width")) / truth["width"]
    for box in found["box_detections"]:
        expected = [int(colours[box["category_name"]][i:i + 2], 16) for i in (1, 3, 5)]
        seen = pixel(browser, box["x"] * scale, (box["y"] + box["height"] / 2) * scale)
        assert sum(abs(a - b) for a, b in zip(seen, expected, strict=True)) < 40, (box, seen, expected)

    # the slider filters in the browser: at 100 % nothing is left, and nothing was asked of the detector
    requested_urls(browser)
    browser.execute_script("const s = document.getElementById('threshold'); s.value = 1;"
                           "s.dispatchEvent(new Event('input'));")
    wait_for(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, ROWS), "an empty table at 100 %")
    assert canvas.get_attribute("data-drawn") == "0"
    assert not [u for u in requested_urls(browser) if "/detect" in u]
    screenshot(browser, output_dir / "detector-page-filtered.png")

    # what active learning did with an image sent with the default `autoupload: filtered` shows on the page
    httpx.post(f"{demo_detector.url}/detect", files={"file": ("demo.jpg", image.read_bytes())})
    learning = httpx.get(f"{demo_detector.url}/status").json()["active_learning"]
    shown = [f"{name}: {count}" for name, count in {**learning["picks"], **learning["skips"]}.items()]
    assert shown  # the rules either picked the image or said why not
    wait_for(browser, lambda b: all(t in b.find_element(By.ID, "active-learning").text for t in shown),
             f"{shown} on the page")
    assert console_errors(browser) == []


def test_a_file_that_is_not_an_image_shows_the_detectors_message(demo_detector: Service, browser: WebDriver,
                                                                 tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    browser.get(demo_detector.url)
    browser.find_element(By.ID, "file").send_keys(str(text))
    message = wait_for(browser, lambda b: b.find_element(By.ID, "detect-error").text, "the error message")
    assert "422" in message and "not a decodable image" in message
