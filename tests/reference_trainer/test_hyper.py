"""Whatever hyperparameters the Loop sends, the reference trainer runs with sane ones and says what it changed."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace

import pytest

from loop_reference_trainer.hyper import Hyper, job_hyper


def test_defaults_and_valid_values_pass_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert Hyper.from_job({}) == Hyper()
        given = Hyper.from_job({"epochs": "12", "batch_size": 4.0, "learning_rate": "0.001", "resolution": 320})
    assert (given.epochs, given.batch_size, given.learning_rate, given.resolution) == (12, 4, 0.001, 320)
    assert caplog.records == []


@pytest.mark.parametrize(("given", "field", "expected", "reason"), [
    ({"epochs": 0}, "epochs", 1, "outside"),
    ({"epochs": -5}, "epochs", 1, "outside"),
    ({"epochs": 10**9}, "epochs", 1000, "outside"),
    ({"batch_size": 0}, "batch_size", 1, "outside"),
    ({"learning_rate": 0}, "learning_rate", 1e-6, "outside"),
    ({"learning_rate": "fast"}, "learning_rate", Hyper.learning_rate, "not a number"),
    ({"epochs": None}, "epochs", Hyper.epochs, "not a number"),
    ({"epochs": True}, "epochs", Hyper.epochs, "not a number"),
    ({"epochs": float("nan")}, "epochs", Hyper.epochs, "not a number"),
    ({"epochs": "1e400"}, "epochs", Hyper.epochs, "not a number"),
    ({"epochs": 2.7}, "epochs", 2, "whole number"),
    ({"resolution": 100}, "resolution", 96, "multiple of 32"),
    ({"resolution": 10}, "resolution", 64, "outside"),
    ({"resolution": 99999}, "resolution", 1280, "outside"),
    ({"mosaic": 3}, "mosaic", 1.0, "outside"),
    ({"copy_paste": -0.5}, "copy_paste", 0.0, "outside"),
    ({"width": 30}, "width", 32, "multiple of 8"),
])
def test_bad_values_are_clamped_with_a_reason(given: dict, field: str, expected: float, reason: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        hyper = Hyper.from_job(given)
    assert getattr(hyper, field) == expected
    assert any(reason in r.getMessage() and field in r.getMessage() for r in caplog.records), caplog.text


def test_unknown_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert Hyper.from_job({"colour": "blue", "epochs": 3}) == Hyper(epochs=3)
    assert "'colour' is not used" in caplog.text


def test_fitted_to_a_tiny_project(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        hyper = Hyper.from_job({"epochs": 2, "batch_size": 4, "warmup_epochs": 3}).fitted(train_images=1)
    assert (hyper.batch_size, hyper.epochs) == (1, 2)
    assert hyper.warmup_epochs < hyper.epochs
    assert "larger than the 1 training images" in caplog.text and "no epoch after the warm-up" in caplog.text
    # a project as large as the batch keeps it
    assert Hyper.from_job({"batch_size": 8}).fitted(train_images=8).batch_size == 8


def test_a_segmentation_project_has_its_own_default_input_and_epochs() -> None:
    assert job_hyper({}, segmentation=False) == Hyper()
    seg = job_hyper({}, segmentation=True)
    assert (seg.resolution, seg.epochs) == (384, 56) and seg.resolution < Hyper().resolution
    given = job_hyper({"epochs": 70, "resolution": 512}, segmentation=True)
    assert (given.resolution, given.epochs) == (512, 70)  # what the user sets wins
    # nothing else differs
    assert asdict(replace(seg, resolution=Hyper().resolution, epochs=Hyper().epochs)) == asdict(Hyper())
