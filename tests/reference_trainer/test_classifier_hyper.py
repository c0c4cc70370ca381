"""The classifier's hyperparameters: the detector's augmentation knobs it has no use for are named in the log."""

from __future__ import annotations

import logging

import pytest

from loop_reference_trainer.classifier.hyper import ClassifierHyper


def test_mosaic_and_copy_paste_are_ignored_with_a_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reference.hyper"):
        hyper = ClassifierHyper.from_job({"mosaic": 0.9, "copy_paste": "0.7", "epochs": 12})
    assert (hyper.mosaic, hyper.copy_paste, hyper.epochs) == (0.0, 0.0, 12)
    unused = [r.getMessage() for r in caplog.records if "not used by the reference trainer" in r.getMessage()]
    assert unused == ["hyperparameter 'mosaic' is not used by the reference trainer; ignored",
                      "hyperparameter 'copy_paste' is not used by the reference trainer; ignored"]


def test_a_job_without_them_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reference.hyper"):
        assert ClassifierHyper.from_job({"epochs": 12, "colour": 0}).epochs == 12
    assert caplog.records == []
