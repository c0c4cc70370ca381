"""The stub Loop's page in a real browser: a generated project's images, deploying a model, its metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service
from loop_testkit.prometheus import sample
from tests.conftest import ORG
from tests.pages.conftest import console_errors, screenshot, wait_for

PROJECT = "gallery"


def test_the_page_lists_a_generated_projects_images(stub: Service, loop: httpx.Client, browser: WebDriver,
                                                    output_dir: Path, tmp_path: Path) -> None:
    body = {"project_name": PROJECT, "complete": 14, "inbox": 4, "box_categories": 2, "point_categories": 1,
            "box_detections": 2, "seed": 3}
    assert loop.post(f"/{ORG}/projects/generator", json=body).status_code == 200
    ids = loop.get(f"/{ORG}/projects/{PROJECT}/data").json()["image_ids"]
    browser.get(f"{stub.url}/#{ORG}/{PROJECT}")
    thumbs = wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#images .thumb")) == len(ids) and
                      b.find_elements(By.CSS_SELECTOR, "#images .thumb"), "a thumbnail per image")
    assert [t.get_attribute("data-image-id") for t in thumbs] == ids
    # every picture arrived and was drawn at its own size, with the generator's two detections on it
    wait_for(browser, lambda b: all(c.get_attribute("width") == "320" and c.get_attribute("data-drawn") == "2"
                                    for c in b.find_elements(By.CSS_SELECTOR, "#images .thumb canvas")),
             "every image drawn with its detections")
    assert "red circle" in browser.find_element(By.ID, "categories").text
    screenshot(browser, output_dir / "stub-images.png")

    # the state filter asks the stub for one state only
    browser.execute_script("const s = document.getElementById('state'); s.value = 'inbox';"
                           "s.dispatchEvent(new Event('change'));")
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#images .thumb")) == 4, "the inbox images")

    # a model uploaded by curl appears under Models; its Deploy button sets the deployment target
    for name in ("first", "second"):
        package = grid_package(tmp_path / f"{name}.zip")
        loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": (package.name, package.read_bytes())})
    browser.find_element(By.CSS_SELECTOR, "#tabs [data-tab='models']").click()
    rows = wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#model-table tbody tr")) == 2 and
                    b.find_elements(By.CSS_SELECTOR, "#model-table tbody tr"), "both models")
    rows[-1].find_element(By.TAG_NAME, "button").click()  # newest first: the last row is version 1.0
    wait_for(browser, lambda b: "deployed: 1.0" in b.find_element(By.ID, "deployed").text, "1.0 deployed")
    assert loop.get(f"/{ORG}/projects/{PROJECT}/deployment/target").json()["version"] == "1.0"
    screenshot(browser, output_dir / "stub-models.png")

    # starting a training without a trainer says why it cannot
    browser.find_element(By.CSS_SELECTOR, "#tabs [data-tab='trainings']").click()
    browser.find_element(By.ID, "start").click()
    message = wait_for(browser, lambda b: b.find_element(By.ID, "start-result").text, "the answer to start")
    assert "409" in message and "no idle trainer" in message
    assert [e for e in console_errors(browser) if "409" not in e] == []

    # a project generated from the page is shown with its images
    form = browser.find_element(By.ID, "generate")
    for name, value in (("project_name", "made-here"), ("complete", "3"), ("inbox", "1")):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    Select(form.find_element(By.NAME, "difficulty")).select_by_value("hard")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda b: "made-here" in b.find_element(By.ID, "title").text, "the generated project shown")
    # the hard generator names its box categories by shape alone (the easy one by colour and shape)
    names = [c["name"] for c in loop.get(f"/{ORG}/projects/made-here").json()["categories"] if c["type"] == "box"]
    assert names == ["circle", "square"]
    browser.find_element(By.CSS_SELECTOR, "#tabs [data-tab='images']").click()
    browser.execute_script("const s = document.getElementById('state'); s.value = '';"
                           "s.dispatchEvent(new Event('change'));")  # the inbox filter chosen above stays
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#images .thumb")) == 4, "its four images")
    assert len(loop.get(f"/{ORG}/projects/made-here/data").json()["image_ids"]) == 4

    metrics = httpx.get(f"{stub.url}/metrics").text
    assert sample(metrics, "loop_stub_images", project=PROJECT, state="complete") == 14
    assert sample(metrics, "loop_stub_images", project=PROJECT, state="inbox") == 4
    assert sample(metrics, "loop_stub_models", project=PROJECT) == 2
    assert sample(metrics, "loop_stub_model_formats", project=PROJECT, format="onnx") == 2
    assert sample(metrics, "loop_stub_deployment_info", project=PROJECT, version="1.0") == 1
    assert sample(metrics, "loop_stub_trainings", project=PROJECT, state="failed") is None
