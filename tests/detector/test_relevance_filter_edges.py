"""The relevance filter at its edges: IoU and distance exactly at the limits, boxes of every shape against an
independent IoU, window edges for classifications, what is forgotten when, and which camera goes first."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from loop_detector.relevance_filter import RelevanceFilter
from loop_detector.settings import DetectorSettings
from loop_shared.schemas import BoxDetection, ClassificationDetection, ImageMetadata, PointDetection
from loop_shared.settings import load_settings

UNCERTAIN = ["uncertain"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_filter(**overrides: object) -> tuple[RelevanceFilter, Clock]:
    clock = Clock()
    return RelevanceFilter(load_settings(DetectorSettings, organization="o", project="p", **overrides), clock), clock


def boxes(*shapes: tuple[int, int, int, int], name: str = "cat") -> ImageMetadata:
    return ImageMetadata(box_detections=[BoxDetection(category_name=name, x=x, y=y, width=w, height=h,
                                                      model_name="1", confidence=0.5) for x, y, w, h in shapes])


def point(x: int, y: int, name: str = "p") -> ImageMetadata:
    return ImageMetadata(point_detections=[PointDetection(category_name=name, x=x, y=y, model_name="1",
                                                          confidence=0.5)])


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[Fraction, int]:
    """Intersection over union of two (x, y, w, h) boxes, exactly, and the union's area."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return (Fraction(ix * iy, union) if union else Fraction(0)), union


def test_a_box_is_seen_again_exactly_when_its_iou_with_one_seen_is_at_least_a_half() -> None:
    rng = random.Random(7)
    cases = [((0, 0, 2, 1), (0, 0, 1, 1)),  # IoU exactly 1/2
             ((10, 20, 4, 2), (12, 20, 4, 2)),  # 1/3
             ((0, 0, 1, 1), (5, 0, 1, 1)), ((0, 0, 1, 1), (0, 5, 1, 1)),  # apart, the smallest boxes
             ((0, 0, 1, 1), (0, 0, 1, 1)),  # the same pixel
             ((3, 50, 40, 6), (3, 50, 40, 6)), ((50, 3, 6, 40), (53, 5, 6, 40))]
    for _ in range(200):  # a box, and another near it of another shape
        x, y, w, h = rng.randrange(0, 60), rng.randrange(0, 60), rng.randrange(1, 30), rng.randrange(1, 30)
        cases.append(((x, y, w, h), (x + rng.randrange(-8, 9), y + rng.randrange(-8, 9),
                                     max(1, w + rng.randrange(-8, 9)), max(1, h + rng.randrange(-8, 9)))))
    f, _ = make_filter()
    seen_again = 0
    for i, (first, second) in enumerate(cases):
        assert f.causes(boxes(first), f"c{i}") == UNCERTAIN
        expected = [] if iou(first, second)[0] >= Fraction(1, 2) else UNCERTAIN
        assert f.causes(boxes(second), f"c{i}") == expected, (first, second, iou(first, second))
        seen_again += not expected
    assert 20 < seen_again < len(cases) - 20  # both outcomes are well represented


def test_boxes_without_area_are_never_alike() -> None:
    f, _ = make_filter()
    assert f.causes(boxes((5, 5, 0, 0)), "c") == UNCERTAIN
    assert f.causes(boxes((5, 5, 0, 0)), "c") == UNCERTAIN


def test_points_are_alike_within_ten_pixels_in_any_direction() -> None:
    f, _ = make_filter()
    assert f.causes(point(5, 50), "c") == UNCERTAIN
    assert f.causes(point(5, 52), "c") == []  # 2 px below
    assert f.causes(point(5, 50), "c") == []  # the same place
    assert f.causes(point(5, 85), "c") == UNCERTAIN  # 35 px below: far, although the same x
    assert f.causes(point(40, 50), "c") == UNCERTAIN  # 35 px right
    assert f.causes(point(15, 50), "c") == UNCERTAIN  # exactly 10 px from (5, 50): not within
    assert f.causes(point(9, 47), "c") == []  # 5 px from (5, 50)
    g, _ = make_filter()
    assert g.causes(point(7, 7), "c") == UNCERTAIN
    assert g.causes(point(7, 9), "c") == []  # straight below: no horizontal offset at all


def test_a_category_and_a_kind_remember_their_own() -> None:
    f, _ = make_filter()
    assert f.causes(boxes((10, 10, 20, 20), name="cat"), "c") == UNCERTAIN
    assert f.causes(boxes((10, 10, 20, 20), name="dog"), "c") == UNCERTAIN
    assert f.causes(point(10, 10, name="cat"), "c") == UNCERTAIN
    assert f.causes(boxes((10, 10, 20, 20), name="cat"), "c") == []


def test_classifications_on_the_window_edges_are_uncertain() -> None:
    f, _ = make_filter()
    for confidence, expected in ((0.3, UNCERTAIN), (0.6, UNCERTAIN), (0.29, []), (0.61, [])):
        image = ImageMetadata(classification_detections=[ClassificationDetection(
            category_name="k", model_name="1", confidence=confidence)])
        assert f.causes(image, "c") == expected, confidence


def test_an_observation_exactly_the_memory_old_still_counts_as_seen() -> None:
    f, clock = make_filter(observation_memory_seconds=3600)
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN
    clock.now += 3600
    assert f.causes(boxes((10, 10, 20, 20)), "c") == []


def test_seeing_an_object_again_renews_it_and_only_the_old_are_forgotten() -> None:
    f, clock = make_filter(observation_memory_seconds=3600)
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN
    assert f.causes(boxes((100, 10, 20, 20)), "c") == UNCERTAIN
    clock.now += 3000
    assert f.causes(boxes((100, 10, 20, 20)), "c") == []  # seen again: remembered from now on
    clock.now += 1000  # the first box is 4000 s old, the second was seen 1000 s ago
    assert f.causes(boxes((200, 10, 20, 20)), "c") == UNCERTAIN  # the forgetting runs here
    assert f.observation_count() == 2
    assert f.causes(boxes((100, 10, 20, 20)), "c") == []
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN


def test_over_the_limit_the_first_of_equally_recent_observations_go_first() -> None:
    f, _ = make_filter(max_observations_per_camera=3)
    shapes = [(i * 40, 0, 20, 20) for i in range(4)]
    assert f.causes(boxes(*shapes), "c") == UNCERTAIN  # four at one moment: the first is dropped
    assert f.observation_count() == 3
    assert f.causes(boxes(shapes[0]), "c") == UNCERTAIN
    assert f.observation_count() == 3
    assert f.causes(boxes(*shapes[2:]), "c") == []


def test_many_observations_of_one_kind_are_all_kept_within_the_limit() -> None:
    f, _ = make_filter(max_observations_per_camera=100)
    shapes = [(i * 40, 0, 20, 20) for i in range(40)]  # more than the arrays start with
    assert f.causes(boxes(*shapes), "c") == UNCERTAIN
    assert f.observation_count() == 40
    assert all(f.causes(boxes(s), "c") == [] for s in shapes)


@pytest.mark.parametrize("camera", [None, ""])
def test_images_without_a_camera_share_one_memory(camera: str | None) -> None:
    f, _ = make_filter()
    assert f.causes(boxes((10, 10, 20, 20)), None) == UNCERTAIN
    assert f.causes(boxes((10, 10, 20, 20)), camera) == []
    assert f.causes(boxes((10, 10, 20, 20)), "named") == UNCERTAIN


def test_the_least_recently_seen_camera_is_forgotten_first() -> None:
    f, _ = make_filter(max_cameras=2)
    assert f.causes(boxes((10, 10, 20, 20)), "a") == UNCERTAIN
    assert f.causes(boxes((10, 10, 20, 20)), "b") == UNCERTAIN
    assert f.causes(boxes((10, 10, 20, 20)), "a") == []  # two cameras fit; a is now the most recent
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN  # b goes
    assert f.causes(boxes((10, 10, 20, 20)), "c") == []
    assert f.causes(boxes((10, 10, 20, 20)), "a") == []
    assert f.causes(boxes((10, 10, 20, 20)), "b") == UNCERTAIN


def test_an_observation_exactly_the_memory_old_is_not_forgotten_yet() -> None:
    f, clock = make_filter(observation_memory_seconds=3600)
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN
    clock.now += 3600
    assert f.causes(boxes((300, 10, 20, 20)), "c") == UNCERTAIN  # another object: the forgetting runs now
    assert f.observation_count() == 2
    assert f.causes(boxes((10, 10, 20, 20)), "c") == []  # the first, still exactly an hour old: seen


def test_forgetting_the_older_keeps_one_seen_exactly_the_memory_ago() -> None:
    f, clock = make_filter(observation_memory_seconds=3600)
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN
    clock.now += 1
    assert f.causes(boxes((100, 10, 20, 20)), "c") == UNCERTAIN
    clock.now += 3600  # the first is 3601 s old (forgotten), the second exactly 3600 s (kept)
    assert f.causes(boxes((300, 10, 20, 20)), "c") == UNCERTAIN  # the forgetting runs here
    assert f.observation_count() == 2
    assert f.causes(boxes((100, 10, 20, 20)), "c") == []
    assert f.causes(boxes((10, 10, 20, 20)), "c") == UNCERTAIN
