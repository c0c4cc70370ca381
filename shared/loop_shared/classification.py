"""Image classifiers: one output `[1, C]` of class scores, read as probabilities.

model.json says what the scores are (`scores`): `probabilities` (the default; the model applied softmax itself, as
Ultralytics' classify exports do) or `logits` (raw scores; softmax is applied here). Shared, so that the detector
and the converter's check read a classifier alike.
"""

from __future__ import annotations

import numpy as np

CLASSIFICATION = "classification"  # output [1, C]
PROBABILITIES, LOGITS = "probabilities", "logits"
SCORE_KINDS = (PROBABILITIES, LOGITS)


def probabilities(output: np.ndarray, scores: str) -> np.ndarray:
    """The C class probabilities of a classifier's output [1, C], as float32."""
    if scores not in SCORE_KINDS:
        raise ValueError(f"model.json `scores` must be one of {', '.join(SCORE_KINDS)}, not {scores!r}")
    row = np.asarray(output, np.float32).reshape(-1)
    if scores == PROBABILITIES:
        return row
    shifted: np.ndarray = np.exp(row - row.max())
    shifted /= shifted.sum()
    return shifted


def top_classes(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the classes scoring above `threshold`, best first (ties in class order)."""
    above = np.flatnonzero(probs > threshold)
    return above[np.argsort(-probs[above], kind="stable")]
