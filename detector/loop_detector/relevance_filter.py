"""Active learning: decide which images are worth sending to the Loop's inbox.

The rules are the reference detector's: per camera, a box or point not seen in the last hour whose confidence
lies in the uncertain window is `uncertain`; any segmentation is `segmentation_detection`; a classification in
the window is `uncertain`; very many detections are `unexpected_observations_count`. Unlike the reference, the
memory is bounded everywhere: old observations are forgotten for every camera (including images without a
camera id), each camera keeps at most a fixed number of observations, and only the most recent cameras are kept.
A camera's memory is a set of arrays, so comparing a detection with everything it remembers costs microseconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from loop_shared.schemas import BoxDetection, ImageMetadata, PointDetection

from .settings import DetectorSettings

UNCERTAIN = "uncertain"
SEGMENTATION = "segmentation_detection"
TOO_MANY = "unexpected_observations_count"
POINT_DISTANCE = 10.0
BOX_IOU = 0.5


class _Slots:
    """The observations of one kind and category on one camera, as arrays with spare room at the end (doubled
    when full): x1, y1, x2, y2 (a point is x, y, x, y), when each was last seen, and the order they came in."""

    def __init__(self, capacity: int = 16) -> None:
        self.size = 0
        self.boxes = np.zeros((capacity, 4), np.float64)
        self.last_seen = np.zeros(capacity, np.float64)
        self.order = np.zeros(capacity, np.int64)

    def alike(self, point: bool, bounds: tuple[float, float, float, float], cutoff: float) -> np.ndarray:
        """Which observations seen since `cutoff` a detection counts as seen: IoU at least 0.5, or within 10 px."""
        b = self.boxes[:self.size]
        x1, y1, x2, y2 = bounds
        if point:
            dx, dy = b[:, 0] - x1, b[:, 1] - y1
            alike = dx * dx + dy * dy < POINT_DISTANCE * POINT_DISTANCE
        else:
            inter = np.maximum(np.minimum(b[:, 2], x2) - np.maximum(b[:, 0], x1), 0.0)
            inter *= np.maximum(np.minimum(b[:, 3], y2) - np.maximum(b[:, 1], y1), 0.0)
            union = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + ((x2 - x1) * (y2 - y1)) - inter
            alike = (inter >= BOX_IOU * union) & (union > 0)
        return np.asarray(alike & (self.last_seen[:self.size] >= cutoff))

    def add(self, bounds: tuple[float, float, float, float], now: float, order: int) -> None:
        if self.size == len(self.last_seen):
            for name in ("boxes", "last_seen", "order"):
                old = getattr(self, name)
                grown = np.zeros((2 * len(old), *old.shape[1:]), old.dtype)
                grown[:self.size] = old[:self.size]
                setattr(self, name, grown)
        i = self.size
        self.boxes[i], self.last_seen[i], self.order[i] = bounds, now, order
        self.size += 1

    def keep(self, mask: np.ndarray) -> None:
        indices = np.flatnonzero(mask)
        for name in ("boxes", "last_seen", "order"):
            array = getattr(self, name)
            array[:len(indices)] = array[indices]
        self.size = len(indices)


class _Memory:
    """One camera's observations, by kind and category."""

    def __init__(self) -> None:
        self.slots: dict[tuple[bool, str], _Slots] = {}
        self.counter = 0

    def __len__(self) -> int:
        return sum(s.size for s in self.slots.values())

    def observe(self, detection: BoxDetection | PointDetection, now: float, cutoff: float) -> bool:
        """Remember a detection; whether it is new (nothing alike seen since `cutoff`). What is alike is marked
        as seen now."""
        point = isinstance(detection, PointDetection)
        key = (point, detection.category_name)
        slots = self.slots.get(key)
        if slots is None:
            slots = self.slots[key] = _Slots()
        bounds = _bounds(detection)
        alike = slots.alike(point, bounds, cutoff)
        if alike.any():
            slots.last_seen[:slots.size][alike] = now
            return False
        slots.add(bounds, now, self.counter)
        self.counter += 1
        return True

    def forget(self, cutoff: float, limit: int) -> None:
        """Drop what was last seen before `cutoff`, then all but the `limit` most recently seen (of those seen
        at the same moment, the ones that came first go first)."""
        for key, slots in list(self.slots.items()):
            seen = slots.last_seen[:slots.size]
            if slots.size and seen.min() < cutoff:
                slots.keep(seen >= cutoff)
            if slots.size == 0:
                del self.slots[key]
        total = len(self)
        if total <= limit:
            return
        seen = np.concatenate([s.last_seen[:s.size] for s in self.slots.values()])
        order = np.concatenate([s.order[:s.size] for s in self.slots.values()])
        ranked = np.lexsort((order, seen))  # oldest first; ties by arrival
        boundary = (seen[ranked[total - limit]], order[ranked[total - limit]])
        for slots in self.slots.values():
            s, o = slots.last_seen[:slots.size], slots.order[:slots.size]
            slots.keep((s > boundary[0]) | ((s == boundary[0]) & (o >= boundary[1])))


def _bounds(detection: BoxDetection | PointDetection) -> tuple[float, float, float, float]:
    if isinstance(detection, BoxDetection):
        return detection.x, detection.y, detection.x + detection.width, detection.y + detection.height
    return detection.x, detection.y, detection.x, detection.y


class RelevanceFilter:
    """Thread-safe; called from the inference threads."""

    def __init__(self, settings: DetectorSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.low = settings.min_uncertain_threshold
        self.high = settings.max_uncertain_threshold
        self.too_many = settings.unexpected_observations_count
        self.memory = settings.observation_memory_seconds
        self.max_per_camera = settings.max_observations_per_camera
        self.max_cameras = settings.max_cameras
        self._clock = clock
        self._cameras: OrderedDict[str, _Memory] = OrderedDict()
        self._lock = threading.Lock()

    def observation_count(self) -> int:
        with self._lock:
            return sum(len(memory) for memory in self._cameras.values())

    def causes(self, metadata: ImageMetadata, camera_id: str | None) -> list[str]:
        """The reasons to upload this image (empty: not relevant). Remembers what it saw."""
        now = self._clock()
        found: list[str] = []
        if metadata.segmentation_detections:
            found.append(SEGMENTATION)
        if any(self.low <= d.confidence <= self.high for d in metadata.classification_detections):
            found.append(UNCERTAIN)
        with self._lock:
            memory = self._memory(camera_id or "", now)
            located: list[BoxDetection | PointDetection] = [*metadata.box_detections, *metadata.point_detections]
            for detection in located:
                # a later detection of the same image is compared with this one too, as it is remembered now
                if memory.observe(detection, now, now - self.memory) and self.low <= detection.confidence <= self.high \
                        and UNCERTAIN not in found:
                    found.append(UNCERTAIN)
            memory.forget(now - self.memory, self.max_per_camera)
        if metadata.detection_count() >= self.too_many:
            found.append(TOO_MANY)
        return found

    def _memory(self, camera: str, now: float) -> _Memory:
        memory = self._cameras.pop(camera, None) or _Memory()
        self._cameras[camera] = memory  # most recent camera last
        while len(self._cameras) > self.max_cameras:
            self._cameras.popitem(last=False)
        return memory
