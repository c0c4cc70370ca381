"""The trainer's page in a real browser shows each training's figure for its kind of model: mask mAP for instance
segmentation, accuracy, macro-F1 and the confusion between classes for a classifier, box mAP otherwise. The
figures are made by hand (the names the reference trainer reports) in the trainer's history file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_shared.schemas import Category
from loop_testkit.processes import Service
from loop_trainer.history import TrainingHistory
from loop_trainer.record import TrainingRecord
from tests.conftest import ORG, node_env
from tests.pages.conftest import ROOT, console_errors, screenshot, wait_for

PROJECT = "kinds"
CLASSES = ["circles", "squares", "triangles"]
MATRIX = [[5, 1, 0], [0, 6, 0], [1, 0, 3]]
PER_CATEGORY = {"c0": {"tp": 5, "fp": 1, "fn": 1}}


def finished(number: int, best: dict[str, Any], history: list[dict[str, Any]]) -> TrainingRecord:
    return TrainingRecord(id=f"training-{number}", organization=ORG, project=PROJECT, training_number=number,
                          categories=[Category(id=f"c{i}", name=name, type="classification")
                                      for i, name in enumerate(CLASSES)],
                          hyperparameters={}, best_metrics=best, history=history, image_count=20)


def seed_history(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    history = TrainingHistory(data_dir / "history.json")
    history.add(finished(1, {"epoch": 5, "val_map50": 0.61, "val_map50_95": 0.4, "confusion_matrix": PER_CATEGORY},
                         [{"epoch": 5, "val_map50": 0.61}]), "done")
    history.add(finished(2, {"epoch": 7, "val_map50": 0.7, "val_map50_95": 0.45, "val_mask_map50": 0.655,
                             "val_mask_map50_95": 0.41, "confusion_matrix": PER_CATEGORY},
                         [{"epoch": 7, "val_map50": 0.7, "val_mask_map50": 0.655}]), "done")
    history.add(finished(3, {"epoch": 4, "val_accuracy": 0.875, "val_macro_f1": 0.8333, "test_accuracy": 0.8,
                             "class_confusion": {"labels": CLASSES, "matrix": MATRIX},
                             "confusion_matrix": PER_CATEGORY},
                         [{"epoch": 1, "val_accuracy": 0.5, "val_macro_f1": 0.4},
                          {"epoch": 4, "val_accuracy": 0.875, "val_macro_f1": 0.8333}]), "done")


def row_texts(browser: WebDriver) -> list[str]:
    """The "best model" cell of each finished training, read in one call (the page redraws every 2 s)."""
    return list(browser.execute_script("return [...document.querySelectorAll('#finished-table tbody tr')]"
                                       ".map(r => r.querySelectorAll('td')[6].textContent)"))


def click_row(browser: WebDriver, index: int) -> None:
    browser.execute_script("document.querySelectorAll('#finished-table tbody tr')[arguments[0]].click()", index)


def best_figures(browser: WebDriver) -> tuple[str, dict[str, str]]:
    """The kind the page chose and its best-model figures, label to value, read in one call."""
    kind, pairs = browser.execute_script(
        "const f = document.getElementById('best-figures');"
        "return [f.dataset.kind, [...f.querySelectorAll('.figure')].map("
        "  e => [e.querySelector('.label').textContent, e.querySelector('.value').textContent])];")
    return str(kind), dict(pairs)


def test_each_training_shows_the_figure_of_its_kind(stub: Service, start_node: Callable[..., Service],
                                                    browser: WebDriver, output_dir: Path, tmp_path: Path) -> None:
    seed_history(tmp_path / "trainer")
    trainer = start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, PYTHONPATH=str(ROOT),
                                                  LOOP_TRAINER_LOGIC="tests.e2e.plugins:EpochTrainer"))
    assert [t["training_number"] for t in httpx.get(f"{trainer.url}/trainings").json()["finished"]] == [3, 2, 1]
    browser.get(trainer.url)
    rows = wait_for(browser, lambda b: len(row_texts(b)) == 3 and row_texts(b), "the three trainings")
    assert rows == ["accuracy 0.875 · macro-F1 0.833", "mask mAP@0.5 0.655", "box mAP@0.5 0.610"]

    # the newest, a classifier: accuracy and macro-F1, its confusion between classes, accuracy per epoch
    assert best_figures(browser) == ("classification", {"epoch": "4", "accuracy": "0.875", "macro-F1": "0.833"})
    head, cells = browser.execute_script(
        "const t = document.getElementById('class-confusion');"
        "return [[...t.querySelectorAll('thead th')].map(h => h.textContent),"
        "        [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(c => c.textContent))];")
    assert head[1:] == CLASSES
    assert cells == [[name, *map(str, counts)] for name, counts in zip(CLASSES, MATRIX, strict=True)]
    epochs = browser.execute_script("return [...document.querySelectorAll(\"#map-chart circle.point"
                                    "[data-series='val_accuracy']\")].map(p => Number(p.dataset.x))")
    assert epochs == [1, 4]
    screenshot(browser, output_dir / "trainer-classification.png")

    # the segmentation training: mask mAP first, box mAP beside it, no class confusion
    click_row(browser, 1)
    wait_for(browser, lambda b: best_figures(b)[0] == "segmentation", "the segmentation training's figures")
    assert best_figures(browser)[1] == {"epoch": "7", "mask mAP@0.5": "0.655", "mask mAP@0.5:0.95": "0.410",
                                        "box mAP@0.5": "0.700"}
    assert not browser.find_elements(By.ID, "class-confusion")
    screenshot(browser, output_dir / "trainer-segmentation.png")

    # the box training: box mAP only
    click_row(browser, 2)
    wait_for(browser, lambda b: best_figures(b)[0] == "detection", "the box training's figures")
    assert best_figures(browser)[1] == {"epoch": "5", "box mAP@0.5": "0.610", "box mAP@0.5:0.95": "0.400"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#confusion tbody tr")) == 1
    assert console_errors(browser) == []
