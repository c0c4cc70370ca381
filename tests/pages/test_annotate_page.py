"""The stub's annotation page in a real browser, driving our annotation node (`loop-annotator`) as the Loop's page
would: log in, drag a box over a generated object, see the node's polygon, add a corrective click, press Enter; the
annotation must arrive at the stub (counted at the wire) and match the object's true polygon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from loop_shared.mask_metrics import mask_iou, polygon_mask
from loop_testkit.processes import Service, wait_until
from tests.conftest import ORG, PASSWORD, USERNAME, node_env
from tests.pages.conftest import console_errors, requested_urls, screenshot, wait_for

PROJECT = "outlines"
WIDTH, HEIGHT = 320, 240


def largest_object(loop: httpx.Client) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    """The image whose one segmentation object is the largest, and that object's true polygon."""
    ids = loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "complete"}).json()["image_ids"]
    images = loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(ids)}).json()["images"]
    best: tuple[float, dict[str, Any], list[tuple[float, float]]] | None = None
    for image in images:
        for annotation in image["segmentation_annotations"]:
            polygon = [(p["x"], p["y"]) for p in annotation["shape"]["points"]]
            area = float(polygon_mask(polygon, HEIGHT, WIDTH).sum())
            if best is None or area > best[0]:
                best = (area, image, polygon)
    assert best is not None, "the generator made no segmentation object"
    return best[1], best[2]


def iou(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    masks_a, masks_b = polygon_mask(a, HEIGHT, WIDTH)[None], polygon_mask(b, HEIGHT, WIDTH)[None]
    return float(mask_iou(masks_a, masks_b)[0, 0])


def at(browser: WebDriver, x: float, y: float) -> tuple[int, int]:
    """Selenium's offset from the image's centre for the image pixel (x, y)."""
    box = browser.execute_script("const i = document.getElementById('image'); const r = i.getBoundingClientRect();"
                                 "return [r.width, r.height, i.naturalWidth, i.naturalHeight];")
    scale_x, scale_y = box[0] / box[2], box[1] / box[3]
    return round(x * scale_x - box[0] / 2), round(y * scale_y - box[1] / 2)


def answers(browser: WebDriver) -> int:
    return int(browser.find_element(By.ID, "stage").get_attribute("data-answers") or 0)


def test_a_person_outlines_an_object_through_the_stub_and_our_annotator(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], browser: WebDriver,
        output_dir: Path, tmp_path: Path) -> None:
    generated = loop.post(f"/{ORG}/projects/generator", json={
        "project_name": PROJECT, "complete": 6, "box_categories": 0, "segmentation_categories": 1,
        "box_annotations": 1, "image_width": WIDTH, "image_height": HEIGHT, "seed": 5})
    assert generated.status_code == 200, generated.text
    image, truth = largest_object(loop)
    start_node("loop-annotator", node_env(stub, tmp_path / "annotator", PROJECT, LOOP_STATUS_INTERVAL="0.5"))
    wait_until(lambda: any(a["status"] for a in httpx.get(f"{stub.url}/api/annotators").json()["annotators"]), 30,
               "the annotator's status at the stub")

    browser.get(f"{stub.url}/annotate#{ORG}/{PROJECT}/{image['id']}")
    form = wait_for(browser, lambda b: b.find_element(By.ID, "login").is_displayed() and
                    b.find_element(By.ID, "login-form"), "the login form (the page has no session yet)")
    form.find_element(By.NAME, "username").send_keys(USERNAME)
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda b: "connected to the Loop" in b.find_element(By.ID, "connection").text, "connected")
    wait_for(browser, lambda b: b.find_element(By.ID, "stage").get_attribute("data-image") == image["id"],
             "the object's image shown")

    xs, ys = [p[0] for p in truth], [p[1] for p in truth]
    left, top, right, bottom = min(xs) - 3, min(ys) - 3, max(xs) + 3, max(ys) + 3
    img = browser.find_element(By.ID, "image")
    drag = ActionChains(browser).move_to_element_with_offset(img, *at(browser, left, top)).click_and_hold()
    for step in (0.25, 0.5, 0.75, 1.0):
        drag.move_to_element_with_offset(img, *at(browser, left + (right - left) * step,
                                                  top + (bottom - top) * step))
    drag.release().perform()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#overlay .answer polygon"), "the node's polygon",
             timeout=60)
    screenshot(browser, output_dir / "annotate-box.png")

    seen = answers(browser)
    centre = (sum(xs) / len(xs), sum(ys) / len(ys))
    ActionChains(browser).move_to_element_with_offset(img, *at(browser, *centre)).click().perform()
    wait_for(browser, lambda b: answers(b) >= seen + 2 and b.find_elements(By.CSS_SELECTOR, "#overlay .answer polygon"),
             "the polygon after the corrective click", timeout=60)
    browser.find_element(By.ID, "stage").send_keys(Keys.ENTER)
    wait_for(browser, lambda b: "saved" in b.find_element(By.ID, "status").text, "saved", timeout=60)
    before = len(image["segmentation_annotations"])  # the generator's true one
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#overlay .saved polygon")) == before + 1,
             "the saved outlines drawn")
    screenshot(browser, output_dir / "annotate-saved.png")

    # what the node sent, as the stub counted it on arrival
    listing = httpx.get(f"{stub.url}/api/stats/received", params={"organization": ORG, "project": PROJECT}).json()
    [arrived] = listing["segmentation_annotations"]
    assert arrived["count"] == 1 and arrived["refused"] is None, arrived
    assert arrived["image_id"] == image["id"]
    outline = [(p["x"], p["y"]) for p in arrived["points"]]
    overlap = iou(outline, truth)
    print(f"IoU of the annotation that arrived with the object's true polygon: {overlap:.3f}")
    assert overlap >= 0.8, f"IoU {overlap:.3f} with the true polygon"
    assert all(isinstance(p["x"], int) and isinstance(p["y"], int) for p in arrived["points"])  # as §9 wants

    assert console_errors(browser) == []
    urls = requested_urls(browser)
    assert all(u.startswith((stub.url, f"ws://127.0.0.1:{stub.port}", "data:")) for u in urls), urls
