"""The classifier's figures: confusion matrix, accuracy, macro-F1 and the per-category counts, against a case worked
out by hand and against scikit-learn where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from loop_reference_trainer.classifier.metrics import figures

TRUTH = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
PREDICTED = np.array([0, 0, 1, 1, 2, 2, 2, 2, 0])


def test_a_case_worked_out_by_hand() -> None:
    result = figures(TRUTH, PREDICTED, 3)
    assert result.matrix.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert result.images == 9 and result.accuracy == pytest.approx(6 / 9)
    # F1 = 2 tp / (2 tp + fp + fn): 4/6, 2/4 and 6/8
    assert result.macro_f1 == pytest.approx((4 / 6 + 2 / 4 + 6 / 8) / 3)
    assert result.counts(["a", "b", "c"]) == {"a": {"tp": 2, "fp": 1, "fn": 1}, "b": {"tp": 1, "fp": 1, "fn": 1},
                                              "c": {"tp": 3, "fp": 1, "fn": 1}}
    assert result.class_confusion(["a", "b", "c"]) == {"labels": ["a", "b", "c"],
                                                       "matrix": [[2, 1, 0], [0, 1, 1], [1, 0, 3]]}


def test_a_class_nobody_has_or_predicts_does_not_count_in_macro_f1() -> None:
    four = figures(TRUTH, PREDICTED, 4)
    assert four.macro_f1 == pytest.approx(figures(TRUTH, PREDICTED, 3).macro_f1)
    assert four.matrix.shape == (4, 4) and four.counts(["a", "b", "c", "d"])["d"] == {"tp": 0, "fp": 0, "fn": 0}
    # predicted but never true: it counts, with F1 0
    assert figures(np.array([0, 0]), np.array([0, 1]), 2).macro_f1 == pytest.approx((2 / 3 + 0) / 2)


def test_nothing_to_measure_gives_zeros() -> None:
    empty = figures(np.array([], int), np.array([], int), 3)
    assert (empty.images, empty.accuracy, empty.macro_f1) == (0, 0.0, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_the_figures_are_scikit_learns(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 7))
    truth = rng.integers(0, classes, 200)
    predicted = np.where(rng.random(200) < 0.6, truth, rng.integers(0, classes, 200))
    result = figures(truth, predicted, classes)
    assert result.accuracy == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert result.macro_f1 == pytest.approx(metrics.f1_score(truth, predicted, average="macro", zero_division=0))
    assert result.matrix.tolist() == metrics.confusion_matrix(truth, predicted, labels=list(range(classes))).tolist()
