"""Instance masks of the segmentation categories: the true masks of a split, the masks of the kept detections
(read exactly as the detector reads them, with loop_shared.yolo_segment), the mask loss, and mask mAP
(loop_shared.mask_metrics: COCO's "segm" figures, checked against pycocotools there).

Masks are compared in the original image's pixels. A predicted mask is the detector's: the sigmoid of the
detection's coefficients times the prototypes, inside its box, above 0.5 (the detector then traces its outline
as a polygon). Only the MAX_MASK_DETECTIONS best detections scored at least MASK_EVAL_CONF per image are kept
for mask mAP: each one is a full-image mask, and the many detections below that add nothing a person would see.
Leaving them out can only lower mAP, never raise it, and only a little: 0.341 against 0.342 with up to 40 masks
down to a score of 0.01 on the hard bench project of generator seed 34.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from loop_shared.imaging import Letterbox
from loop_shared.mask_metrics import MaskInstance, mask_map, polygon_mask
from loop_shared.yolo_segment import instance_mask

from .data import Split
from .network import PROTO_STRIDE

MASK_EVAL_CONF = 0.05
MAX_MASK_DETECTIONS = 20
# of the mask loss, beside the box loss's 2 and the class loss's 1. Its gradient reaches only the mask head's own
# weights (Detector.segment with `detach`): reaching the shared features too, even at 0.5, it halved the box AP of
# the segmentation category on the hard bench project (0.23 against 0.48 trained as a box category)
MASK_WEIGHT = 0.5


def mask_loss(coefs: jax.Array, protos: jax.Array, cells: jax.Array, truth: jax.Array, box: jax.Array,
              weight: jax.Array) -> jax.Array:
    """Binary cross-entropy of the masks of the drawn cells (data.mask_targets) at the prototypes' resolution,
    only inside the true box of each cell's object (YOLACT's and Ultralytics' crop), averaged over the box.

    coefs N x cells x M; protos N x h x w x M; cells N x P (-1: none); truth N x P x h x w uint8 (0..255);
    box N x P x 4 (x1, y1, x2, y2 in input pixels); weight N x P (each object's drawn cells weigh 1 together).
    A cell of a box or point object is never drawn, so those categories train no mask."""
    h, w = protos.shape[1:3]
    picked = jnp.take_along_axis(coefs, jnp.maximum(cells, 0)[..., None], axis=1)             # N x P x M
    logits = jnp.einsum("npm,nhwm->nphw", picked, protos)
    target = truth.astype(logits.dtype) * (1 / 255)
    xs = (jnp.arange(w, dtype=logits.dtype) + 0.5) * PROTO_STRIDE
    ys = (jnp.arange(h, dtype=logits.dtype) + 0.5) * PROTO_STRIDE
    in_x = (xs >= box[..., 0:1]) & (xs <= box[..., 2:3])                                       # N x P x w
    in_y = (ys >= box[..., 1:2]) & (ys <= box[..., 3:4])                                       # N x P x h
    crop = (in_y[..., :, None] & in_x[..., None, :]).astype(logits.dtype)
    per_cell = (optax.sigmoid_binary_cross_entropy(logits, target) * crop).sum((2, 3)) / \
        jnp.maximum(crop.sum((2, 3)), 1.0)
    valid = weight * (cells >= 0)
    total: jax.Array = (per_cell * valid).sum() / jnp.maximum(valid.sum(), 1.0)
    return total


def true_masks(split: Split, segmentation: frozenset[int]) -> list[list[MaskInstance]]:
    """Per image, the masks of its segmentation objects in the image's pixels."""
    result = []
    for k, (image, boxes) in enumerate(zip(split.images, split.boxes, strict=True)):
        height, width = image.shape[:2]
        polygons = split.polygons[k] if split.polygons else [None] * len(boxes)
        own = []
        for row, polygon in zip(boxes, polygons, strict=True):
            if polygon is not None and int(row[4]) in segmentation:
                # back to the Loop's pixel indices (data.annotation_polygons added half a pixel)
                points = [(float(x) - 0.5, float(y) - 0.5) for x, y in polygon]
                own.append(MaskInstance(int(row[4]), 1.0, polygon_mask(points, height, width)))
        result.append(own)
    return result


def predicted_mask(coefficient: np.ndarray, protos: np.ndarray, model_box: np.ndarray, input_size: tuple[int, int],
                   lb: Letterbox, image_box: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The mask of one detection in the image's pixels (bool, `shape`), read as the detector reads it: protos
    M x h x w, `model_box` x1 y1 x2 y2 in input pixels, `image_box` the same in image pixels, `input_size` the
    model input's (width, height). None for a box under a pixel wide, as the detector skips those."""
    x, y = round(float(image_box[0])), round(float(image_box[1]))
    w, h = round(float(image_box[2])) - x, round(float(image_box[3])) - y
    if w < 1 or h < 1:
        return None
    region = instance_mask(coefficient, protos, model_box, input_size, lb, (x, y, w, h))
    full = np.zeros(shape, bool)
    full[y:y + h, x:x + w] = region[:shape[0] - y, :shape[1] - x] > 0
    return full


def mask_figures(references: list[list[MaskInstance]], candidates: list[list[MaskInstance]],
                 classes: int) -> tuple[float, float]:
    """(mask mAP@0.5, mask mAP@0.5:0.95) over the classes with true masks; 0 for a split without any."""
    map50, map50_95 = mask_map(references, candidates, classes)
    return (0.0 if math.isnan(map50) else map50), (0.0 if math.isnan(map50_95) else map50_95)
