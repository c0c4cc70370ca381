"""Hard synthetic scenes: categories told apart by shape alone, on cluttered, unevenly lit, noisy backgrounds.

Each object gets a random colour (with enough contrast to its surroundings to be seen), a random rotation and a
size drawn log-uniformly between about 4 % and 34 % of the image's shorter side (14 to 110 px at 416 x 320), so
small objects are as common as large ones. Objects may overlap partially (an earlier object keeps at least 70 %
of its pixels visible); the box annotation is the object's whole drawn extent. Distractors that belong to no
category (strokes, long ellipses, jagged polygons, specks) are painted first, then the objects; lighting
gradients, blur, sensor noise and JPEG compression come last. Point and segmentation categories are drawn as in
the easy scenes, with random colours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .scene_categories import HARD_SHAPE_OF, POINT_PALETTE, SEGMENTATION_PALETTE

MAX_OBJECTS = 5
MAX_HIDDEN = 0.3  # at most this share of an earlier object's pixels may be covered by later ones


def _rotated(points: np.ndarray, cx: int, cy: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[:, 0], points[:, 1]
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1).round().astype(np.int32)


def blob_outline(rng: np.random.Generator, cx: int, cy: int, r: float) -> list[tuple[int, int]]:
    """The corners of an irregular blob about 2r across (segmentation categories, in both difficulties)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, 10))
    radii = r * rng.uniform(0.6, 1.0, 10)
    return [(int(cx + rr * np.cos(a)), int(cy + rr * np.sin(a))) for a, rr in zip(angles, radii, strict=True)]


def shape_mask(shape: str, cx: int, cy: int, size: int, width: int, height: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, list[tuple[int, int]] | None]:
    """A filled mask of `shape` about `size` pixels across, rotated at random; polygons also return their
    outline (for segmentation annotations)."""
    mask = np.zeros((height, width), np.uint8)
    r = size / 2
    angle = float(rng.uniform(0, 2 * np.pi))
    polygon = None
    if shape in ("circle", "dot"):
        cv2.circle(mask, (cx, cy), max(2, round(r)), 255, -1, lineType=cv2.LINE_AA)
    elif shape == "ring":
        cv2.circle(mask, (cx, cy), max(3, round(r * 0.85)), 255, max(2, round(r / 3)), lineType=cv2.LINE_AA)
    elif shape == "square":
        corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], np.float64) * r * 0.75
        cv2.fillPoly(mask, [_rotated(corners, cx, cy, angle)], 255, lineType=cv2.LINE_AA)
    elif shape == "triangle":
        corners = np.array([(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 4)[:3]]) * r
        cv2.fillPoly(mask, [_rotated(corners, cx, cy, angle)], 255, lineType=cv2.LINE_AA)
    elif shape == "star":
        a = np.linspace(0, 2 * np.pi, 11)[:10]
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        cv2.fillPoly(mask, [_rotated(np.stack([radii * np.cos(a), radii * np.sin(a)], 1), cx, cy, angle)], 255,
                     lineType=cv2.LINE_AA)
    elif shape == "cross":
        t = max(1.5, r / 3)
        for rect in (np.array([(-r, -t), (r, -t), (r, t), (-r, t)]), np.array([(-t, -r), (t, -r), (t, r), (-t, r)])):
            cv2.fillPoly(mask, [_rotated(rect, cx, cy, angle)], 255, lineType=cv2.LINE_AA)
    elif shape == "blob":
        polygon = blob_outline(rng, cx, cy, r)
        cv2.fillPoly(mask, [np.array(polygon, np.int32)], 255)
    else:
        raise ValueError(f"unknown shape {shape}")
    mask[mask < 128] = 0
    return mask, polygon


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    cells = int(rng.integers(6, 40))
    coarse = rng.random((max(2, height // cells), max(2, width // cells), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    low, span = rng.uniform(20, 120), rng.uniform(40, 140)
    image: np.ndarray = np.clip(low + span * smooth * rng.uniform(0.4, 1.0, size=3).astype(np.float32), 0, 255)
    return image


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 256), rng.integers(40, 256)]]], np.uint8)
    colour: np.ndarray = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    return colour


def _contrasting_colour(rng: np.random.Generator, surroundings: np.ndarray) -> np.ndarray:
    """A random colour that differs clearly from the mean of `surroundings` (so the object can be seen)."""
    mean = surroundings.reshape(-1, 3).mean(axis=0)
    colour = _random_colour(rng)
    for _ in range(20):
        if np.abs(colour - mean).sum() >= 120:
            break
        colour = _random_colour(rng)
    return colour


def distractors(image: np.ndarray, rng: np.random.Generator) -> None:
    height, width = image.shape[:2]
    side = min(width, height)
    for _ in range(int(rng.integers(3, 12))):
        kind = rng.integers(4)
        colour = tuple(float(v) for v in _random_colour(rng))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if kind == 0:  # a stroke
            x2, y2 = x + int(rng.integers(-side // 2, side // 2)), y + int(rng.integers(-side // 2, side // 2))
            cv2.line(image, (x, y), (x2, y2), colour, int(rng.integers(1, 5)), lineType=cv2.LINE_AA)
        elif kind == 1:  # a long ellipse, filled or not
            a = int(rng.integers(side // 16, side // 5))
            axes = (a, max(1, int(a / rng.uniform(2.5, 6))))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour,
                        -1 if rng.random() < 0.5 else 2, lineType=cv2.LINE_AA)
        elif kind == 2:  # a jagged polygon: many uneven spikes, nothing like a category's clean outline
            n = 2 * int(rng.integers(5, 9))
            corners = np.sort(rng.uniform(0, 2 * np.pi, n))
            spikes = np.where(np.arange(n) % 2 == 0, rng.uniform(0.75, 1.0, n), rng.uniform(0.2, 0.5, n))
            radius = rng.uniform(side / 30, side / 8) * spikes
            pts = np.stack([x + radius * np.cos(corners), y + radius * np.sin(corners)], 1).astype(np.int32)
            cv2.fillPoly(image, [pts], colour, lineType=cv2.LINE_AA)
        else:  # a sprinkle of specks
            for _ in range(int(rng.integers(5, 30))):
                px, py = int(rng.integers(0, width)), int(rng.integers(0, height))
                cv2.circle(image, (px, py), int(rng.integers(1, 3)), colour, -1)


def finish(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light, blur, noise and a JPEG round trip."""
    height, width = image.shape[:2]
    light = cv2.resize(rng.uniform(0.55, 1.35, size=(3, 3)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    lit: np.ndarray = image * light[..., None] * rng.uniform(0.8, 1.2)
    if rng.random() < 0.6:
        lit = cv2.GaussianBlur(lit, (0, 0), float(rng.uniform(0.4, 1.3)))
    lit = lit + rng.normal(0, rng.uniform(2, 14), size=lit.shape).astype(np.float32)
    rgb = np.clip(lit, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 90))])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else None
    return rgb if decoded is None else np.asarray(decoded, np.uint8)


@dataclass
class Placed:
    """An object drawn into a scene: its mask, its outline (polygons only), its centre and its whole extent."""

    mask: np.ndarray
    polygon: list[tuple[int, int]] | None
    centre: tuple[int, int]
    box: tuple[int, int, int, int]  # x1, y1, x2, y2, inclusive


def place_object(image: np.ndarray, rng: np.random.Generator, shape: str, size: int, visible: list[np.ndarray],
                 colour: np.ndarray | None = None) -> tuple[np.ndarray, Placed | None]:
    """Draw `shape` about `size` px across at a random place where it hides at most MAX_HIDDEN of every object in
    `visible` (their uncovered pixels, updated here), in `colour` or one that contrasts with its surroundings.
    Returns the new image and the object, or None when no place was found in 40 tries."""
    height, width = image.shape[:2]
    for _attempt in range(40):
        cx = int(rng.integers(size // 2 + 1, max(size // 2 + 2, width - size // 2 - 1)))
        cy = int(rng.integers(size // 2 + 1, max(size // 2 + 2, height - size // 2 - 1)))
        mask, polygon = shape_mask(shape, cx, cy, size, width, height, rng)
        covered = mask > 0
        if covered.any() and all(np.count_nonzero(v & covered) <= MAX_HIDDEN * np.count_nonzero(v)
                                 for v in visible):
            break
    else:
        return image, None
    for v in visible:
        v &= ~covered
    visible.append(covered.copy())
    ys, xs = np.nonzero(covered)
    x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    if colour is None:
        colour = _contrasting_colour(rng, image[max(0, y1 - 4):y2 + 5, max(0, x1 - 4):x2 + 5])
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    return image * (1 - alpha) + colour * alpha, Placed(mask, polygon, (cx, cy), (x1, y1, x2, y2))


def render_hard_scene(rng: np.random.Generator, categories: list[dict[str, Any]], width: int, height: int,
                      objects: int = 0, image_id: str = "") -> tuple[np.ndarray, dict[str, list[dict[str, Any]]]]:
    """One RGB scene with `objects` objects (0: one to five) of the drawable categories, and its annotations."""
    shapes = {**HARD_SHAPE_OF, **{n: s for n, _, s in POINT_PALETTE + SEGMENTATION_PALETTE}}
    image = background(rng, width, height)
    distractors(image, rng)
    annotations: dict[str, list[dict[str, Any]]] = {"box_annotations": [], "point_annotations": [],
                                                    "segmentation_annotations": []}
    drawable = [c for c in categories if c["name"] in shapes and c.get("type") in ("box", "point", "segmentation")]
    side = min(width, height)
    low, high = max(12.0, side * 0.044), max(16.0, side * 0.34)
    visible: list[np.ndarray] = []  # the pixels of each placed object that are still uncovered
    for _ in range(objects or int(rng.integers(1, MAX_OBJECTS + 1)) if drawable else 0):
        category = drawable[int(rng.integers(len(drawable)))]
        shape = shapes[category["name"]]
        size = 13 if shape == "dot" else int(np.exp(rng.uniform(np.log(low), np.log(high))))
        image, placed = place_object(image, rng, shape, size, visible)
        if placed is None:
            continue
        x1, y1, x2, y2 = placed.box
        cx, cy = placed.centre
        base = {"id": str(uuid.uuid4()), "image_id": image_id, "category_id": category["id"],
                "category_name": category["name"]}
        if category["type"] == "box":
            annotations["box_annotations"].append({**base, "x": x1, "y": y1, "width": x2 - x1 + 1,
                                                   "height": y2 - y1 + 1})
        elif category["type"] == "point":
            annotations["point_annotations"].append({**base, "x": float(cx), "y": float(cy)})
        else:
            points = [{"x": int(x), "y": int(y)} for x, y in (placed.polygon or [])]
            annotations["segmentation_annotations"].append({**base, "shape": {"points": points}})
    return finish(image, rng), annotations
