"""Which outputs a model has and how to read them: named in model.json (`output_layout`) or inferred from the
shapes of its outputs, checked once when the model loads.

| layout | outputs |
|---|---|
| `ultralytics` | `[1, 4 + C, N]`: box centre and size, C class scores |
| `yolov5` | `[1, N, 5 + C]`: box centre and size, objectness, C class scores |
| `ultralytics_segment` | `[1, 4 + C + M, N]` as `ultralytics` plus M mask coefficients, and prototypes `[1, M, h, w]` |
| `classification` | `[1, C]`: class scores |
"""

from __future__ import annotations

from dataclasses import dataclass

from .classification import CLASSIFICATION
from .yolo import ULTRALYTICS, YOLOV5, infer_layout
from .yolo_segment import ULTRALYTICS_SEGMENT

LAYOUTS = (ULTRALYTICS, YOLOV5, ULTRALYTICS_SEGMENT, CLASSIFICATION)


@dataclass(frozen=True)
class OutputLayout:
    """A layout and where its tensors are among the model's outputs."""

    name: str
    scores: int = 0  # the output holding boxes and scores (or a classifier's scores)
    protos: int | None = None  # the mask prototypes, for `ultralytics_segment`
    masks: int = 0  # M, the mask coefficients per candidate

    @property
    def box_layout(self) -> str:
        """The layout `yolo.decode` reads boxes and scores with: the segment detections' first 4 + C rows are
        `ultralytics` ones."""
        return ULTRALYTICS if self.name == ULTRALYTICS_SEGMENT else self.name


def _of_rank(shapes: list[tuple[int, ...]], rank: int) -> list[int]:
    return [i for i, shape in enumerate(shapes) if len(shape) == rank and shape[0] == 1]


def _segment(shapes: list[tuple[int, ...]], classes: int) -> OutputLayout:
    detections, protos = _of_rank(shapes, 3), _of_rank(shapes, 4)
    if len(detections) != 1 or len(protos) != 1:
        raise ValueError(f"{ULTRALYTICS_SEGMENT} needs one output [1, 4+C+M, N] and one [1, M, h, w], got "
                         f"{[list(s) for s in shapes]}")
    masks = shapes[protos[0]][1]
    if shapes[detections[0]][1] != 4 + classes + masks:
        raise ValueError(f"detections {list(shapes[detections[0]])} do not hold 4 + {classes} classes + {masks} mask "
                         f"coefficients per candidate (prototypes {list(shapes[protos[0]])})")
    return OutputLayout(ULTRALYTICS_SEGMENT, detections[0], protos[0], masks)


def _classification(shapes: list[tuple[int, ...]], classes: int) -> OutputLayout:
    if len(shapes[0]) != 2 or shapes[0] != (1, classes):
        raise ValueError(f"{CLASSIFICATION} needs an output [1, {classes}] (one score per category), "
                         f"got {list(shapes[0])}")
    return OutputLayout(CLASSIFICATION)


def resolve_layout(shapes: list[tuple[int, ...]], classes: int, named: str | None = None) -> OutputLayout:
    """The layout of a model with outputs of `shapes` and `classes` categories; `named` is model.json's
    `output_layout`, if any. Raises ValueError, saying what was expected, when the outputs do not fit."""
    if not shapes:
        raise ValueError("the model has no outputs")
    if named is not None and named not in LAYOUTS:
        raise ValueError(f"unknown output_layout {named!r} in model.json; known: {', '.join(LAYOUTS)}")
    if named == ULTRALYTICS_SEGMENT or (named is None and _of_rank(shapes, 4) and _of_rank(shapes, 3)):
        return _segment(shapes, classes)
    if named == CLASSIFICATION or (named is None and len(shapes[0]) == 2):
        return _classification(shapes, classes)
    if len(shapes[0]) != 3 or shapes[0][0] != 1:
        raise ValueError(f"expected an output of shape [1, A, B], got {list(shapes[0])}")
    return OutputLayout(named or infer_layout(shapes[0], classes))
