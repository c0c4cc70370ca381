"""Classification figures: the confusion matrix, top-1 accuracy and macro-F1 (as scikit-learn computes them), and
the per-category counts the Loop shows (true positives, false positives, false negatives)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """classes x classes counts: row i, column j = images of class i predicted as class j."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def per_class_f1(matrix: np.ndarray) -> np.ndarray:
    """F1 of every class (0 where it has neither true nor predicted images, as scikit-learn's zero_division=0)."""
    tp = np.diag(matrix).astype(np.float64)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    f1: np.ndarray = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1


@dataclass(frozen=True)
class Figures:
    matrix: np.ndarray   # confusion, classes x classes

    @property
    def images(self) -> int:
        return int(self.matrix.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.matrix) / self.images) if self.images else 0.0

    @property
    def macro_f1(self) -> float:
        """The mean F1 over the classes that occur among the true or the predicted classes (scikit-learn's
        f1_score(average="macro") without `labels`)."""
        present = (self.matrix.sum(axis=0) + self.matrix.sum(axis=1)) > 0
        return float(per_class_f1(self.matrix)[present].mean()) if present.any() else 0.0

    def counts(self, category_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per category id: images rightly given it (tp), wrongly given it (fp) and wrongly not given it (fn)."""
        tp = np.diag(self.matrix)
        fp, fn = self.matrix.sum(axis=0) - tp, self.matrix.sum(axis=1) - tp
        return {cid: {"tp": int(tp[k]), "fp": int(fp[k]), "fn": int(fn[k])} for k, cid in enumerate(category_ids)}

    def class_confusion(self, names: list[str]) -> dict[str, object]:
        return {"labels": list(names), "matrix": self.matrix.astype(int).tolist()}


def figures(truth: np.ndarray, predicted: np.ndarray, classes: int) -> Figures:
    return Figures(confusion(truth, predicted, classes))
