from __future__ import annotations

from loop_detector.relevance_filter import RelevanceFilter
from loop_detector.settings import DetectorSettings
from loop_shared.schemas import (
    BoxDetection,
    ClassificationDetection,
    ImageMetadata,
    PointDetection,
    SegmentationDetection,
)
from loop_shared.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_filter(**overrides: object) -> tuple[RelevanceFilter, Clock]:
    clock = Clock()
    settings = load_settings(DetectorSettings, organization="o", project="p", **overrides)
    return RelevanceFilter(settings, clock), clock


def box(conf: float, x: int = 10, name: str = "cat") -> ImageMetadata:
    return ImageMetadata(box_detections=[BoxDetection(category_name=name, x=x, y=10, width=20, height=20,
                                                      model_name="1", confidence=conf)])


def test_uncertain_new_box_is_relevant_once_per_hour() -> None:
    f, clock = make_filter()
    assert f.causes(box(0.5), "cam") == ["uncertain"]
    assert f.causes(box(0.5, x=12), "cam") == []          # similar (IoU >= 0.5): seen recently
    assert f.causes(box(0.5), "other cam") == ["uncertain"]  # histories are per camera
    clock.now += 3601
    assert f.causes(box(0.5), "cam") == ["uncertain"]


def test_window_bounds_are_inclusive_and_confident_objects_are_not_uploaded() -> None:
    f, _ = make_filter()
    assert f.causes(box(0.3, x=0), None) == ["uncertain"]
    assert f.causes(box(0.6, x=100), None) == ["uncertain"]
    assert f.causes(box(0.9, x=200), None) == []
    assert f.causes(box(0.29, x=300), None) == []


def test_points_use_distance_and_other_causes() -> None:
    f, _ = make_filter()
    point = ImageMetadata(point_detections=[PointDetection(category_name="p", x=5, y=5, model_name="1",
                                                           confidence=0.4)])
    assert f.causes(point, "c") == ["uncertain"]
    near = ImageMetadata(point_detections=[PointDetection(category_name="p", x=12, y=5, model_name="1",
                                                          confidence=0.4)])
    assert f.causes(near, "c") == []
    seg = ImageMetadata(segmentation_detections=[SegmentationDetection(category_name="s", shape="1,2,3,4",
                                                                       model_name="1", confidence=0.99)])
    assert f.causes(seg, "c") == ["segmentation_detection"]
    cls = ImageMetadata(classification_detections=[ClassificationDetection(category_name="k", model_name="1",
                                                                           confidence=0.5)])
    assert f.causes(cls, "c") == ["uncertain"]
    many = ImageMetadata(box_detections=[BoxDetection(category_name="m", x=i * 30, y=0, width=20, height=20,
                                                      model_name="1", confidence=0.95) for i in range(80)])
    assert f.causes(many, "c") == ["unexpected_observations_count"]


def test_memory_is_bounded_without_camera_id_too() -> None:
    f, clock = make_filter(max_observations_per_camera=50, max_cameras=3)
    for i in range(500):
        f.causes(box(0.9, x=i * 40), None)
    assert f.observation_count() == 50
    for cam in range(10):
        f.causes(box(0.9), f"cam{cam}")
    assert f.observation_count() <= 50 + 2
    clock.now += 4000
    f.causes(box(0.9, x=5), None)
    assert f.observation_count() <= 1 + 2  # old observations of the unnamed camera were forgotten
