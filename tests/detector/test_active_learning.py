"""Active-learning rules, quotas (with a fake clock) and upload shrinking."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from loop_detector.active_learning import Rules, load_config, parse_config, with_plain_limits
from loop_detector.metrics import DetectorMetrics
from loop_detector.quotas import QuotaBook
from loop_detector.relevance_filter import RelevanceFilter
from loop_detector.settings import DetectorSettings
from loop_detector.upload_policy import UploadPolicy
from loop_detector.upload_size import shrink
from loop_shared.schemas import BoxDetection, ImageMetadata, PointDetection, SegmentationDetection, Shape
from loop_shared.settings import ConfigurationError, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def box(name: str, confidence: float, x: int = 0) -> BoxDetection:
    return BoxDetection(category_name=name, category_id=name, x=x, y=0, width=10, height=10, model_name="1",
                        confidence=confidence)


def image(*detections: BoxDetection) -> ImageMetadata:
    return ImageMetadata(box_detections=list(detections))


def settings(tmp_path: Path, **overrides: object) -> DetectorSettings:
    return load_settings(DetectorSettings, organization="o", project="p", data_dir=tmp_path, **overrides)


def policy_for(tmp_path: Path, config: str | None, clock: Clock, seed: int = 0) -> tuple[UploadPolicy, DetectorMetrics]:
    parsed = load_config(config)
    metrics = DetectorMetrics()
    rules = Rules(parsed, RelevanceFilter(settings(tmp_path)), random.Random(seed))
    return UploadPolicy(parsed, rules, QuotaBook(tmp_path / "quotas.json", clock=clock), metrics), metrics


def sample(metrics: DetectorMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(("value", "message"), [
    ('{"rules": [{"type": "nearest"}]}', "rules.0: Input tag 'nearest' found using 'type' does not match"),
    ('{"rules": [{"type": "random", "fraction": 2}]}', "rules.0.random.fraction"),
    ('{"rules": [{"type": "count", "category": "a", "fewer_than": 2, "more_than": 5}]}', "exactly one of"),
    ('{"rules": [{"type": "random", "fraction": 0.1}, {"type": "random", "fraction": 0.2}]}', "share a tag"),
    ('{"rules": []}', "rules: List should have at least 1 item"),
    ('{"quota": {"per_hour": -1}}', "quota.per_hour"),
    ('{"rules": [{"type": "class", "categories": ["a"], "colour": "red"}]}', "Extra inputs are not permitted"),
    ("{not json", "Invalid JSON"),
    ("/no/such/file.json", "neither JSON nor a readable file")])
def test_a_bad_configuration_stops_the_detector_with_one_line_naming_the_field(
        tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_config(value)
    assert message in str(caught.value)
    with pytest.raises(ConfigurationError, match="LOOP_ACTIVE_LEARNING: "):
        settings(tmp_path, active_learning=value)


def test_the_configuration_may_be_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [{"type": "class", "categories": ["person"], "tag": "people"}]}))
    assert parse_config(str(path)).rules[0].tag == "people"
    assert [r.type for r in load_config(None).rules] == ["reference"]


def test_each_rule_picks_what_it_should_with_its_tags(tmp_path: Path) -> None:
    config = json.dumps({"rules": [
        {"type": "class", "categories": ["person"], "min_confidence": 0.5},
        {"type": "count", "category": "screw", "fewer_than": 2, "tag": "missing_screw"},
        {"type": "count", "category": "screw", "more_than": 3, "tag": "crowded"},
        {"type": "near_threshold", "margin": 0.05, "categories": ["screw"]}]})
    policy, metrics = policy_for(tmp_path, config, Clock())
    assert policy.filtered(image(box("person", 0.6), box("screw", 0.9), box("screw", 0.9)), None, 0.2).tags == \
        ["class"]
    assert policy.filtered(image(box("person", 0.4), box("screw", 0.9)), None, 0.2).tags == ["missing_screw"]
    assert policy.filtered(image(*[box("screw", 0.9, x) for x in range(4)]), None, 0.2).tags == ["crowded"]
    assert policy.filtered(image(box("screw", 0.23), box("screw", 0.9)), None, 0.2).tags == ["near_threshold"]
    skipped = policy.filtered(image(box("screw", 0.9), box("screw", 0.8)), None, 0.2)
    assert not skipped.upload and skipped.reason == "not_relevant"
    assert sample(metrics, "loop_detector_active_learning_picks_total", rule="class") == 1
    assert sample(metrics, "loop_detector_active_learning_skips_total", reason="not_relevant") == 1


def test_random_sampling_takes_about_its_fraction(tmp_path: Path) -> None:
    policy, _ = policy_for(tmp_path, '{"rules": [{"type": "random", "fraction": 0.1}]}', Clock(), seed=5)
    picked = sum(policy.filtered(image(), None, 0.2).upload for _ in range(2000))
    assert 150 <= picked <= 250


def test_the_reference_rule_keeps_its_own_tags(tmp_path: Path) -> None:
    policy, _ = policy_for(tmp_path, None, Clock())
    assert policy.filtered(image(box("a", 0.45)), "cam", 0.2).tags == ["uncertain"]
    assert not policy.filtered(image(box("a", 0.45)), "cam", 0.2).upload  # seen within the hour


def test_quotas_slide_per_minute_hour_and_day_and_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    config = '{"rules": [{"type": "random", "fraction": 1}], "quota": {"per_minute": 2, "per_hour": 3, "per_day": 4}}'
    policy, metrics = policy_for(tmp_path, config, clock)
    assert [policy.filtered(image(), None, 0.2).upload for _ in range(3)] == [True, True, False]
    clock.now += 61
    assert policy.filtered(image(), None, 0.2).upload  # a new minute; the hour holds 3
    assert not policy.filtered(image(), None, 0.2).upload
    assert sample(metrics, "loop_detector_active_learning_skips_total", reason="quota") == 2
    clock.now += 3600 - 60  # the first three leave the hour (sliding, not calendar hours)
    restarted, _ = policy_for(tmp_path, config, clock)  # the counts come back from quotas.json
    assert restarted.filtered(image(), None, 0.2).upload
    assert not restarted.filtered(image(), None, 0.2).upload  # four in the day
    clock.now += 86400
    assert restarted.filtered(image(), None, 0.2).upload


def test_rule_and_camera_quotas_and_priority_uploads(tmp_path: Path) -> None:
    config = json.dumps({"rules": [{"type": "random", "fraction": 1, "quota": {"per_hour": 1}},
                                   {"type": "class", "categories": ["a"]}],
                         "quota": {"per_camera": {"per_hour": 2}}})
    policy, metrics = policy_for(tmp_path, config, Clock())
    first = policy.filtered(image(box("a", 0.9)), "left", 0.2)
    assert first.upload and first.tags == ["random", "class"]
    second = policy.filtered(image(box("a", 0.9)), "left", 0.2)  # random's own quota is used up
    assert second.upload and second.tags == ["class"]
    assert sample(metrics, "loop_detector_active_learning_over_quota_total", rule="random") == 1
    assert not policy.filtered(image(box("a", 0.9)), "left", 0.2).upload  # the camera has had its two
    assert policy.filtered(image(box("a", 0.9)), "right", 0.2).upload  # another camera has room
    assert not policy.filtered(image(), "right", 0.2).upload  # only random would pick it, and it is used up
    assert sample(metrics, "loop_detector_active_learning_skips_total", reason="rule_quota") == 1
    limited, _ = policy_for(tmp_path / "b", '{"quota": {"per_day": 0}}', Clock())
    assert not limited.unconditional().upload and limited.unconditional(priority=True).upload


def test_an_upload_over_the_quota_says_when_the_quota_has_room_again(tmp_path: Path) -> None:
    clock = Clock()
    policy, _ = policy_for(tmp_path, '{"quota": {"per_minute": 2, "per_hour": 3}}', clock)
    assert policy.unconditional().upload
    clock.now += 10
    assert policy.unconditional().upload
    clock.now += 5
    held = policy.unconditional()  # two in the minute: the first leaves it 60 s after it came, 45 s from now
    assert not held.upload and held.retry_after == 45
    clock.now += 45
    assert policy.unconditional().upload  # three in the hour now: the first leaves the hour at 3600 s
    held = policy.unconditional()
    assert not held.upload and held.retry_after == 3600 - 60
    assert policy.unconditional(priority=True).retry_after is None
    closed, _ = policy_for(tmp_path / "closed", '{"quota": {"per_day": 0}}', clock)
    assert closed.unconditional().retry_after == float("inf")


def test_plain_variables_add_the_stricter_limit(tmp_path: Path) -> None:
    config = with_plain_limits(parse_config('{"quota": {"per_hour": 10, "per_day": 100}}'), None, 20, 50)
    assert (config.quota.per_minute, config.quota.per_hour, config.quota.per_day) == (None, 10, 50)


def test_shrinking_scales_the_image_and_its_detections(tmp_path: Path) -> None:
    rgb = np.zeros((400, 800, 3), np.uint8)
    metadata = ImageMetadata(
        box_detections=[BoxDetection(category_name="a", category_id="a", x=100, y=40, width=200, height=100,
                                     model_name="1", confidence=0.9)],
        point_detections=[PointDetection(category_name="p", category_id="p", x=400.0, y=200.0, model_name="1",
                                         confidence=0.8)],
        segmentation_detections=[SegmentationDetection(category_name="s", category_id="s", model_name="1",
                                                       confidence=0.7, shape=Shape.model_validate(
                                                           {"points": [{"x": 10, "y": 20}]}))])
    jpeg = shrink(rgb, metadata, max_side=200, quality=50)
    assert jpeg is not None
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (100, 200)
    b = metadata.box_detections[0]
    assert (b.x, b.y, b.width, b.height) == (25, 10, 50, 25)
    assert (metadata.point_detections[0].x, metadata.point_detections[0].y) == (100.0, 50.0)
    shape = metadata.segmentation_detections[0].shape
    assert isinstance(shape, Shape) and (shape.points[0].x, shape.points[0].y) == (2.5, 5.0)
    assert shrink(rgb, ImageMetadata(), None, None) is None  # nothing configured: sent as it came
