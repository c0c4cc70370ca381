"""Active learning: decide which images are worth sending to the Loop's inbox.

The rules are the reference detector's: per camera, a box or point not seen in the last hour whose confidence
lies in the uncertain window is `uncertain`; any segmentation is `segmentation_detection`; a classification in
the window is `uncertain`; very many detections are `unexpected_observations_count`. Unlike the reference, the
memory is bounded everywhere: old observations are forgotten for every camera (including images without a
camera id), each camera keeps at most a fixed number of observations, and only the most recent cameras are kept.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from loop_shared.schemas import BoxDetection, ImageMetadata, PointDetection

from .settings import DetectorSettings

UNCERTAIN = "uncertain"
SEGMENTATION = "segmentation_detection"
TOO_MANY = "unexpected_observations_count"
POINT_DISTANCE = 10.0
BOX_IOU = 0.5


@dataclass
class Observation:
    detection: BoxDetection | PointDetection
    last_seen: float


def box_iou(a: BoxDetection, b: BoxDetection) -> float:
    ix = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    iy = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _similar(a: BoxDetection | PointDetection, b: BoxDetection | PointDetection) -> bool:
    if a.category_name != b.category_name or type(a) is not type(b):
        return False
    if isinstance(a, BoxDetection) and isinstance(b, BoxDetection):
        return box_iou(a, b) >= BOX_IOU
    return math.dist((a.x, a.y), (b.x, b.y)) < POINT_DISTANCE


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
        self._cameras: OrderedDict[str, list[Observation]] = OrderedDict()
        self._lock = threading.Lock()

    def observation_count(self) -> int:
        with self._lock:
            return sum(len(obs) for obs in self._cameras.values())

    def causes(self, metadata: ImageMetadata, camera_id: str | None) -> list[str]:
        """The reasons to upload this image (empty: not relevant). Remembers what it saw."""
        now = self._clock()
        found: list[str] = []
        if metadata.segmentation_detections:
            found.append(SEGMENTATION)
        if any(self.low <= d.confidence <= self.high for d in metadata.classification_detections):
            found.append(UNCERTAIN)
        with self._lock:
            history = self._history(camera_id or "", now)
            located: list[BoxDetection | PointDetection] = [*metadata.box_detections, *metadata.point_detections]
            for detection in located:
                similar = [o for o in history if _similar(o.detection, detection)]
                if similar:
                    for observation in similar:
                        observation.last_seen = now
                    continue
                history.append(Observation(detection, now))
                if self.low <= detection.confidence <= self.high and UNCERTAIN not in found:
                    found.append(UNCERTAIN)
            if len(history) > self.max_per_camera:
                history.sort(key=lambda o: o.last_seen)
                del history[: len(history) - self.max_per_camera]
        if metadata.detection_count() >= self.too_many:
            found.append(TOO_MANY)
        return found

    def _history(self, camera: str, now: float) -> list[Observation]:
        history = self._cameras.pop(camera, [])
        self._cameras[camera] = history  # most recent camera last
        while len(self._cameras) > self.max_cameras:
            self._cameras.popitem(last=False)
        cutoff = now - self.memory
        history[:] = [o for o in history if o.last_seen >= cutoff]
        return history
