"""Training data for the reference detector: the images as they are, augmented samples and per-cell targets.

Training samples are drawn straight from the original images with one affine warp each (random scale, shift,
horizontal flip and, if the `turned` hyperparameter asks for it, a quarter, half or three-quarter turn), half of
them as mosaics of four images; in a project with segmentation categories, objects with an outline from other
images are pasted into half of them (copy_paste.py); then they are jittered in colour, blur and noise. Evaluation
images are letterboxed exactly as the detector does.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from loop_shared.imaging import letterbox as shared_letterbox

from .copy_paste import paste, sources
from .network import PROTO_STRIDE, STRIDE

POINT_BOX = 16.0      # points are learned as small boxes around them; the detector reports their centres
CENTRE_RADIUS = 2.5   # cells within this many cells of an object's centre (and inside it) learn that object
MIN_VISIBLE = 0.4     # an object cut by the sample's border keeps its label when this share of it is left
MASK_CELLS = 16       # cells per sample whose mask coefficients are trained in one step (a segmentation model;
# each is a whole mask at the prototypes' resolution: 64 made the mask loss a third of a step's time)
CELLS_PER_MASK = 2    # ... at most this many of each object's cells, drawn at random each step


def validation_share(image_id: str) -> float:
    """A stable number in [0, 1) per image id: images below the validation fraction form the validation split."""
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) / 2**32


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def annotation_polygons(item: dict[str, Any], class_of: dict[str, int]) -> list[np.ndarray]:
    """The outlines (K x 2, continuous coordinates: pixel i spans i to i + 1) of the segmentation annotations of
    known categories, in the order annotation_boxes lists their boxes (after the box and point annotations)."""
    polygons = []
    for a in item.get("segmentation_annotations") or []:
        points = ((a.get("shape") or {}).get("points")) or []
        if a.get("category_id") in class_of and len(points) >= 3:
            # the Loop's polygon points are pixel indices; a pixel's centre is at index + 0.5
            polygons.append(np.array([(p["x"] + 0.5, p["y"] + 0.5) for p in points], np.float64))
    return polygons


def annotation_boxes(item: dict[str, Any], class_of: dict[str, int]) -> list[tuple[float, float, float, float, int]]:
    """(x1, y1, x2, y2, class) in original pixels for the box, point and segmentation annotations of known
    categories (a polygon's box bounds the pixels it covers)."""
    boxes = []
    for a in item.get("box_annotations") or []:
        if a.get("category_id") in class_of and a.get("width", 0) > 0 and a.get("height", 0) > 0:
            boxes.append((a["x"], a["y"], a["x"] + a["width"], a["y"] + a["height"], class_of[a["category_id"]]))
    for p in item.get("point_annotations") or []:
        if p.get("category_id") in class_of:
            r = POINT_BOX / 2
            boxes.append((p["x"] - r, p["y"] - r, p["x"] + r, p["y"] + r, class_of[p["category_id"]]))
    segments = [a for a in item.get("segmentation_annotations") or [] if a.get("category_id") in class_of
                and len(((a.get("shape") or {}).get("points")) or []) >= 3]
    for a, polygon in zip(segments, annotation_polygons(item, class_of), strict=True):
        (x1, y1), (x2, y2) = polygon.min(axis=0) - 0.5, polygon.max(axis=0) + 0.5
        boxes.append((float(x1), float(y1), float(x2), float(y2), class_of[a["category_id"]]))
    return boxes


@dataclass
class Split:
    ids: list[str]
    images: list[np.ndarray]                                   # original RGB uint8
    boxes: list[np.ndarray]                                    # per image: M x 5 (x1, y1, x2, y2, class)
    # per image: the outline of each box's object (K x 2), None for boxes and points; empty without masks
    polygons: list[list[np.ndarray | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def objects(self) -> int:
        return sum(len(b) for b in self.boxes)

    def truths(self) -> list[list[tuple[float, float, float, float, int]]]:
        return [[(float(x1), float(y1), float(x2), float(y2), int(c)) for x1, y1, x2, y2, c in b]
                for b in self.boxes]


def load_split(items: list[dict[str, Any]], images_dir: Path, class_of: dict[str, int], masks: bool = False
               ) -> Split:
    """The images and their objects; with `masks`, also the outlines of the segmentation objects."""
    ids, images, boxes, polygons = [], [], [], []
    for item in items:
        ids.append(str(item["id"]))
        images.append(read_rgb(images_dir / f"{item['id']}.jpg"))
        found = annotation_boxes(item, class_of)
        boxes.append(np.array(found, np.float32).reshape(-1, 5))
        if masks:
            outlines = annotation_polygons(item, class_of)
            polygons.append([None] * (len(found) - len(outlines)) + list(outlines))
    return Split(ids, images, boxes, polygons)


def input_size(splits: list[Split], resolution: int) -> tuple[int, int]:
    """(height, width) of the model input: the longer side is `resolution`, the shorter follows the images'
    typical aspect ratio, both multiples of 32 (a 4:3 project trains and runs at 384 x 288, not 384 x 384)."""
    shapes = [img.shape[:2] for split in splits for img in split.images]
    if not shapes:
        return resolution, resolution
    ratio = float(np.median([h / w for h, w in shapes]))
    if ratio <= 1:
        return max(32, round(resolution * ratio / 32) * 32), resolution
    return resolution, max(32, round(resolution / ratio / 32) * 32)


def letterbox(rgb: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, float, float]:
    """Into width x height exactly as the detector does (the shared letterbox); returns image, scale, pad x, pad y."""
    canvas, box = shared_letterbox(rgb, width, height)
    return canvas, box.scale_x, box.pad_x, box.pad_y


def _warp(image: np.ndarray, boxes: np.ndarray, matrix: np.ndarray, out: np.ndarray,
          region: tuple[int, int, int, int]) -> np.ndarray:
    """Warp `image` by `matrix` into `region` (x1, y1, x2, y2) of `out`; returns the boxes that stay visible."""
    return _warp_kept(image, boxes, matrix, out, region)[0]


def _warp_kept(image: np.ndarray, boxes: np.ndarray, matrix: np.ndarray, out: np.ndarray,
               region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """As _warp, and which of `boxes` stayed (a boolean per box)."""
    x1, y1, x2, y2 = region
    # `matrix` maps continuous coordinates (pixel i spans i to i + 1, as the boxes do); OpenCV's maps pixel centres
    shifted = matrix.copy()
    shifted[:, 2] += shifted[:, :2] @ (0.5, 0.5) - 0.5 - (x1, y1)
    out[y1:y2, x1:x2] = cv2.warpAffine(image, shifted, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))
    if len(boxes) == 0:
        return boxes, np.zeros(0, bool)
    (a, b, tx), (c, d, ty) = matrix  # quarter turns and flips at most: opposite corners stay opposite corners
    ax, ay = boxes[:, 0] * a + boxes[:, 1] * b + tx, boxes[:, 0] * c + boxes[:, 1] * d + ty
    cx, cy = boxes[:, 2] * a + boxes[:, 3] * b + tx, boxes[:, 2] * c + boxes[:, 3] * d + ty
    bx1, bx2, by1, by2 = np.minimum(ax, cx), np.maximum(ax, cx), np.minimum(ay, cy), np.maximum(ay, cy)
    area = (bx2 - bx1) * (by2 - by1)
    clipped = np.stack([np.clip(bx1, x1, x2), np.clip(by1, y1, y2), np.clip(bx2, x1, x2), np.clip(by2, y1, y2)], 1)
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (visible >= MIN_VISIBLE * np.maximum(area, 1e-6)) & (clipped[:, 2] - clipped[:, 0] >= 2) & \
        (clipped[:, 3] - clipped[:, 1] >= 2)
    return np.concatenate([clipped[keep], boxes[keep, 4:5]], axis=1).astype(np.float32), keep


def _moved(polygons: list[np.ndarray | None], keep: np.ndarray, matrix: np.ndarray,
           region: tuple[int, int, int, int]) -> list[tuple[np.ndarray, tuple[int, int, int, int]] | None]:
    """The outlines of the kept objects moved by `matrix`, each with the region it is visible in."""
    return [None if p is None else (p @ matrix[:, :2].T + matrix[:, 2], region)
            for p, k in zip(polygons, keep, strict=True) if k]


def _quarter_turns(turns: int, w: int, h: int) -> np.ndarray:
    """3 x 3 matrix that turns a w x h image by `turns` quarter turns clockwise and puts it back at (0, 0)."""
    rows = {0: [[1, 0, 0], [0, 1, 0]], 1: [[0, -1, h], [1, 0, 0]], 2: [[-1, 0, w], [0, -1, h]],
            3: [[0, 1, 0], [-1, 0, w]]}[turns % 4]
    return np.array([*rows, [0, 0, 1]], np.float64)


def _placement(shape: tuple[int, ...], height: int, width: int, zoom: float, rng: np.random.Generator,
               flip: bool, turns: int = 0) -> np.ndarray:
    """An affine matrix (continuous coordinates) that turns an image of `shape` by `turns` quarter turns, scales
    it to fit width x height times `zoom`, flips it if asked, and puts it at a random place. Quarter turns and
    flips keep a box a box: its two opposite corners stay opposite corners."""
    h, w = shape[:2]
    turn = _quarter_turns(turns, w, h)
    if turns % 2:
        w, h = h, w
    scale = min(width / w, height / h) * zoom
    tx = rng.uniform(min(0.0, width - w * scale), max(0.0, width - w * scale))
    ty = rng.uniform(min(0.0, height - h * scale), max(0.0, height - h * scale))
    place = np.array([[-scale, 0, tx + w * scale] if flip else [scale, 0, tx], [0, scale, ty], [0, 0, 1]],
                     np.float64)
    matrix: np.ndarray = (place @ turn)[:2]
    return matrix


NOISE_BANK_SIZE = 1 << 21   # 2 M samples: a random window of it is the noise of one image


@functools.cache
def _noise_bank() -> np.ndarray:
    """Normal samples times 16 (int16), drawn once per process."""
    return np.round(np.random.default_rng(0).standard_normal(NOISE_BANK_SIZE) * 16).astype(np.int16)


def _add_noise(rgb: np.ndarray, sigma: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of `sigma` grey levels, cut from the noise bank (drawing fresh normals for every image took
    more time than the rest of the augmentation together)."""
    size = rgb.size
    if size > NOISE_BANK_SIZE:  # a sample larger than the bank (inputs above ~830 x 830): fresh normals
        noise = (rng.standard_normal(rgb.shape, dtype=np.float32) * 16).astype(np.int16)
    else:
        start = int(rng.integers(0, NOISE_BANK_SIZE - size + 1))
        noise = _noise_bank()[start:start + size].reshape(rgb.shape)
    noisy: np.ndarray = np.clip(rgb.astype(np.int16) + ((noise * sigma + 8) >> 4), 0, 255).astype(np.uint8)
    return noisy


def colour_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, brightness and contrast jitter, sometimes blur and noise (uint8 in and out). The hue shift and the
    saturation and value scales are one lookup table per HSV channel."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    levels = np.arange(256, dtype=np.float32)
    table = np.stack([(levels + int(rng.integers(-6, 7))) % 180,
                      np.clip(levels * rng.uniform(0.6, 1.4), 0, 255),
                      np.clip(levels * rng.uniform(0.65, 1.35), 0, 255)], axis=-1).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.LUT(hsv, table.reshape(256, 1, 3)), cv2.COLOR_HSV2RGB)
    if rng.random() < 0.2:
        rgb = cv2.GaussianBlur(rgb, (0, 0), float(rng.uniform(0.5, 1.2)))
    if rng.random() < 0.3:
        rgb = _add_noise(rgb, int(rng.integers(3, 11)), rng)
    result: np.ndarray = rgb
    return result


Outline = tuple[np.ndarray, tuple[int, int, int, int]]  # an object's outline in the sample and where it is visible


def sample(split: Split, index: int, height: int, width: int, rng: np.random.Generator,
           mosaic: bool, turned: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One augmented training sample (uint8 H x W x 3) and its boxes (M x 5) in input pixels; `turned` is the
    share of the images placed in it that are turned by a quarter, half or three-quarter turn."""
    image, boxes, _ = sample_outlines(split, index, height, width, rng, mosaic, turned)
    return image, boxes


def sample_outlines(split: Split, index: int, height: int, width: int, rng: np.random.Generator,
                    mosaic: bool, turned: float = 0.0, copy_paste: float = 0.0,
                    pool: list[tuple[int, int]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[Outline | None]]:
    """As `sample`, and per box the outline of its object in the sample (None for boxes and points, and for every
    object of a split without outlines). With `pool` (copy_paste.sources of `split`, not empty), `copy_paste` is
    the share of samples into which objects of the pool are pasted (copy_paste.paste)."""
    def none(k: int) -> list[np.ndarray | None]:
        return split.polygons[k] if split.polygons else [None] * len(split.boxes[k])

    def turns() -> int:
        return int(rng.integers(1, 4)) if turned and rng.random() < turned else 0

    out = np.empty((height, width, 3), np.uint8)
    if mosaic and len(split) > 1:
        cx, cy = int(width * rng.uniform(0.3, 0.7)), int(height * rng.uniform(0.3, 0.7))
        regions = [(0, 0, cx, cy), (cx, 0, width, cy), (0, cy, cx, height), (cx, cy, width, height)]
        picks = [index, *rng.integers(0, len(split), 3)]
        parts, outlines = [], []
        for k, region in zip(picks, regions, strict=True):
            rw, rh = region[2] - region[0], region[3] - region[1]
            matrix = _placement(split.images[k].shape, height, width, rng.uniform(0.45, 0.9), rng, rng.random() < 0.5,
                                turns())
            # centre a random part of the placed image on the region
            matrix[:, 2] += (region[0] + rw / 2 - width / 2, region[1] + rh / 2 - height / 2)
            kept, keep = _warp_kept(split.images[k], split.boxes[k], matrix, out, region)
            parts.append(kept)
            outlines += _moved(none(int(k)), keep, matrix, region)
        boxes = np.concatenate(parts) if parts else np.zeros((0, 5), np.float32)
    else:
        matrix = _placement(split.images[index].shape, height, width, rng.uniform(0.75, 1.3), rng,
                            rng.random() < 0.5, turns())
        boxes, keep = _warp_kept(split.images[index], split.boxes[index], matrix, out, (0, 0, width, height))
        outlines = _moved(none(index), keep, matrix, (0, 0, width, height))
    if pool and rng.random() < copy_paste:
        boxes, outlines = paste(out, boxes, outlines, split, pool, rng)
    return colour_jitter(out, rng), boxes, outlines


def targets(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell targets: see `assign`."""
    box, cls, share, _ = assign(boxes, height, width)
    return box, cls, share


def assign(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell targets: the box (cells x 4, x1 y1 x2 y2 in input pixels) and class (cells, -1 for none) of the
    object each cell learns, and the cell's share of its object (1 / the object's cells, 0 for none). A cell
    learns an object when its centre lies inside the object and within CENTRE_RADIUS cells of the object's
    centre; the cell nearest the centre always does. Where objects compete for a cell, the smaller one gets it."""
    gh, gw = height // STRIDE, width // STRIDE
    box = np.zeros((gh * gw, 4), np.float32)
    cls = np.full(gh * gw, -1, np.int32)
    owner = np.full(gh * gw, -1, np.int32)
    area = np.full(gh * gw, np.inf, np.float32)
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * STRIDE
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * STRIDE
    for k, (x1, y1, x2, y2, c) in enumerate(boxes):
        bx, by = (x1 + x2) / 2, (y1 + y2) / 2
        radius = CENTRE_RADIUS * STRIDE
        inside_x = (xs > x1) & (xs < x2) & (np.abs(xs - bx) <= radius)
        inside_y = (ys > y1) & (ys < y2) & (np.abs(ys - by) <= radius)
        mask = inside_y[:, None] & inside_x[None, :]
        ci, cj = min(gh - 1, max(0, int(by // STRIDE))), min(gw - 1, max(0, int(bx // STRIDE)))
        mask[ci, cj] = True
        cells = np.flatnonzero(mask.reshape(-1))
        a = (x2 - x1) * (y2 - y1)
        cells = cells[area[cells] > a]
        box[cells] = (x1, y1, x2, y2)
        cls[cells] = int(c)
        owner[cells] = k
        area[cells] = a
    counts = np.bincount(owner[owner >= 0], minlength=max(len(boxes), 1)).astype(np.float32)
    share = np.where(owner >= 0, 1.0 / np.maximum(counts[np.maximum(owner, 0)], 1.0), 0.0).astype(np.float32)
    return box, cls, share, owner


def outline_mask(outline: Outline, height: int, width: int) -> np.ndarray:
    """An object's mask at the prototypes' resolution (uint8, 0 to 255 at its edges), zero outside its region."""
    points, (rx1, ry1, rx2, ry2) = outline
    # drawn at the input's resolution and averaged over each prototype pixel's 4 x 4 input pixels: the share of it
    # inside (OpenCV's anti-aliased filling spreads a polygon by about a pixel, a prototype pixel here)
    full = np.zeros((height // PROTO_STRIDE * PROTO_STRIDE, width // PROTO_STRIDE * PROTO_STRIDE), np.uint8)
    shift = 4  # corners to 1/16 pixel; input pixel u has its centre at u + 0.5
    cv2.fillPoly(full, [np.round((points - 0.5) * (1 << shift)).astype(np.int32)], 255, shift=shift)
    if (rx1, ry1, rx2, ry2) != (0, 0, width, height):  # a mosaic part: what lies outside shows another image
        inside = np.zeros_like(full)
        inside[ry1:ry2, rx1:rx2] = 1
        full *= inside
    mask: np.ndarray = cv2.resize(full, (width // PROTO_STRIDE, height // PROTO_STRIDE), interpolation=cv2.INTER_AREA)
    return mask


def mask_targets(outlines: list[Outline | None], boxes: np.ndarray, owner: np.ndarray, height: int, width: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What trains the mask coefficients of one sample: up to MASK_CELLS cells (their indices, -1 for none), up to
    CELLS_PER_MASK drawn from each object's cells, with their object's mask at the prototypes' resolution (uint8),
    its box (x1, y1, x2, y2 in input pixels: the loss looks only inside it) and a weight (every object weighs 1,
    however many of its cells are drawn). Objects without an outline (boxes, points) train no mask."""
    cells = np.full(MASK_CELLS, -1, np.int32)
    masks = np.zeros((MASK_CELLS, height // PROTO_STRIDE, width // PROTO_STRIDE), np.uint8)
    box = np.zeros((MASK_CELLS, 4), np.float32)
    weight = np.zeros(MASK_CELLS, np.float32)
    used = 0
    for k in rng.permutation(len(outlines)):
        outline = outlines[k]
        own = np.flatnonzero(owner == k)
        if outline is None or not len(own):
            continue
        chosen = rng.choice(own, min(CELLS_PER_MASK, len(own), MASK_CELLS - used), replace=False)
        if not len(chosen):
            break
        rows = slice(used, used + len(chosen))
        cells[rows], masks[rows], box[rows], weight[rows] = chosen, outline_mask(outline, height, width), \
            boxes[k, :4], 1.0 / len(chosen)
        used += len(chosen)
    return cells, masks, box, weight


def batch(split: Split, indices: np.ndarray, height: int, width: int, rng: np.random.Generator,
          mosaic: float, turned: float = 0.0, masks: bool = False, copy_paste: float = 0.0
          ) -> tuple[np.ndarray, ...]:
    """Images (N x H x W x 3 uint8), box targets, class targets and cell shares for `indices`; with `masks`, also
    the mask targets (cells, masks, boxes, weights: see `mask_targets`), and `copy_paste` is the share of samples
    into which objects with an outline are pasted (a split without outlines draws nothing for it)."""
    columns: list[list[np.ndarray]] = [[] for _ in range(8 if masks else 4)]
    pool = sources(split) if masks and copy_paste > 0 else []
    for index in indices:
        image, b, outlines = sample_outlines(split, int(index), height, width, rng, rng.random() < mosaic, turned,
                                             copy_paste, pool)
        t_box, t_cls, t_share, owner = assign(b, height, width)
        row = [image, t_box, t_cls, t_share]
        if masks:
            row += mask_targets(outlines, b, owner, height, width, rng)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return tuple(np.stack(column) for column in columns)
