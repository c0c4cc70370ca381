"""The trainer's page and metrics in a real browser, while a training runs and after it finished."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_testkit.processes import Service, wait_until
from loop_testkit.prometheus import sample
from tests.conftest import ORG, node_env
from tests.pages.conftest import ROOT, console_errors, screenshot, wait_for

PROJECT = "curves"
EPOCHS = 6


def points(browser: WebDriver, chart: str, series: str) -> list[int]:
    """The epochs of a chart's points, read in one call (the page redraws its charts every few seconds)."""
    xs = browser.execute_script("return [...document.querySelectorAll(arguments[0])].map(p => p.dataset.x)",
                                f"#{chart} circle.point[data-series='{series}']")
    return [int(float(x)) for x in xs]


def test_curves_have_one_point_per_finished_epoch(stub: Service, loop: httpx.Client,
                                                   start_node: Callable[..., Service], browser: WebDriver,
                                                   output_dir: Path, tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 8, "box_categories": 2,
                                                  "image_width": 96, "image_height": 64})
    trainer = start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, PYTHONPATH=str(ROOT),
                                                  LOOP_TRAINER_LOGIC="tests.e2e.plugins:EpochTrainer",
                                                  LOOP_STATUS_INTERVAL="0.5"))
    wait_until(lambda: any((t["status"] or {}).get("state") == "idle"
                           for t in httpx.get(f"{stub.url}/api/trainers").json()["trainers"]), 30, "an idle trainer")
    response = loop.post(f"/{ORG}/projects/{PROJECT}/trainings", json={"hyperparameters": {"epochs": EPOCHS,
                                                                                           "hold": 120}})
    assert response.status_code == 200, response.text

    # all epochs reported, the training held open: the page draws the current training's curves
    metrics = wait_until(lambda: (m := httpx.get(f"{trainer.url}/metrics").text) and
                         sample(m, "loop_trainer_epoch") == EPOCHS and m, 60, "every epoch in /metrics")
    assert sample(metrics, "loop_trainer_state", state="running") == 1
    assert sample(metrics, "loop_trainer_loss") == round(2.0 / EPOCHS, 4)
    assert sample(metrics, "loop_trainer_map50") == sample(metrics, "loop_trainer_best_map50") == \
        round(1 - 0.5 / EPOCHS, 4)
    assert sample(metrics, "loop_trainer_images_downloaded_total") == 8
    browser.get(trainer.url)
    wait_for(browser, lambda b: len(points(b, "loss-chart", "loss")) == EPOCHS, "a loss point per epoch")
    assert points(browser, "loss-chart", "loss") == list(range(1, EPOCHS + 1))
    assert points(browser, "map-chart", "val_map50") == list(range(1, EPOCHS + 1))
    assert "running" in browser.find_element(By.ID, "state").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#confusion tbody tr")) == 2
    screenshot(browser, output_dir / "trainer-running.png")

    # stopped: it finishes with its model; the page keeps its curves and lists it among the last trainings
    assert loop.post(f"/{ORG}/projects/{PROJECT}/trainings/1/stop").status_code == 200
    wait_until(lambda: loop.get(f"/{ORG}/projects/{PROJECT}/trainings/1").json()["state"] == "done", 60,
               "the training done")
    rows = wait_for(browser, lambda b: [r.text for r in b.find_elements(By.CSS_SELECTOR, "#finished-table tbody tr")],
                    "the finished training", timeout=30)
    assert "done" in rows[0]
    wait_for(browser, lambda b: "idle" in b.find_element(By.ID, "state").text, "the trainer idle")
    assert points(browser, "loss-chart", "loss") == list(range(1, EPOCHS + 1))
    screenshot(browser, output_dir / "trainer-finished.png")
    assert console_errors(browser) == []
    metrics = httpx.get(f"{trainer.url}/metrics").text
    assert sample(metrics, "loop_trainer_trainings_total", result="done") == 1
    assert sample(metrics, "loop_trainer_trainings_total", result="failed") == 0
    assert sample(metrics, "loop_trainer_training_seconds_count") == 1
    assert sample(metrics, "loop_trainer_training_seconds_sum") > 0
    assert sample(metrics, "loop_trainer_state", state="idle") == 1
    assert sample(metrics, "loop_trainer_crashes_total") == 0
    assert sample(metrics, "loop_trainer_images_downloaded_total") == 8

    # the history survives a restart
    trainer.stop()
    trainer.start()
    [finished] = httpx.get(f"{trainer.url}/trainings").json()["finished"]
    assert finished["result"] == "done" and [h["epoch"] for h in finished["history"]] == list(range(1, EPOCHS + 1))
    assert sample(httpx.get(f"{trainer.url}/metrics").text, "loop_trainer_trainings_total", result="done") == 1
