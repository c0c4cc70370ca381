"""Active-learning configuration: which images to send to the Loop, with which tags, at what rate.

`LOOP_ACTIVE_LEARNING` holds JSON, or the path of a JSON file, validated at start-up (a mistake stops the detector
with one line naming the variable and the field). Without it the reference detector's rules apply, unlimited.

    {"rules": [
        {"type": "reference"},                                    # uncertain / segmentation / too many (default)
        {"type": "random", "fraction": 0.01},                     # 1% of all images
        {"type": "class", "categories": ["person"], "min_confidence": 0.5},   # images showing these
        {"type": "count", "category": "screw", "fewer_than": 4},  # or "more_than": N
        {"type": "near_threshold", "margin": 0.05, "categories": ["screw"]},  # scores close to the threshold
     ],
     "quota": {"per_hour": 100, "per_camera": {"per_minute": 2}}}

Every rule has a `tag` (its type by default; the reference rule keeps its own three tags) that goes with the image
to the Loop, so the Loop shows why it was picked, and an optional `quota` of the same shape as the overall one:
at most N per minute, hour and day, in total and per camera (see quotas.py).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from loop_shared.schemas import (
    BoxDetection,
    ClassificationDetection,
    ImageMetadata,
    PointDetection,
    SegmentationDetection,
)

from .relevance_filter import RelevanceFilter


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_minute: int | None = Field(None, ge=0)
    per_hour: int | None = Field(None, ge=0)
    per_day: int | None = Field(None, ge=0)

    def windows(self) -> list[tuple[float, int]]:
        """(window in seconds, at most this many) for each limit that is set."""
        pairs = ((60.0, self.per_minute), (3600.0, self.per_hour), (86400.0, self.per_day))
        return [(seconds, limit) for seconds, limit in pairs if limit is not None]


class Quota(Limits):
    per_camera: Limits | None = None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str | None = Field(None, min_length=1, max_length=100)
    quota: Quota | None = None


class ReferenceRule(_Rule):
    type: Literal["reference"]


class RandomRule(_Rule):
    type: Literal["random"]
    fraction: float = Field(gt=0, le=1)


class ClassRule(_Rule):
    type: Literal["class"]
    categories: list[str] = Field(min_length=1)
    min_confidence: float = Field(0.0, ge=0, le=1)


class CountRule(_Rule):
    type: Literal["count"]
    category: str
    fewer_than: int | None = Field(None, ge=1)
    more_than: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> CountRule:
        if (self.fewer_than is None) == (self.more_than is None):
            raise ValueError("give exactly one of fewer_than and more_than")
        return self


class NearThresholdRule(_Rule):
    type: Literal["near_threshold"]
    margin: float = Field(gt=0, le=1)
    categories: list[str] | None = None  # None: every category


Rule = Annotated[ReferenceRule | RandomRule | ClassRule | CountRule | NearThresholdRule, Field(discriminator="type")]


class ActiveLearningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=lambda: [_default_rule()], min_length=1)
    quota: Quota = Field(default_factory=lambda: Quota.model_validate({}))

    @model_validator(mode="after")
    def _unique_names(self) -> ActiveLearningConfig:
        names = [rule_name(r) for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"two rules share a tag ({', '.join(names)}); give each its own `tag`")
        return self


def with_plain_limits(config: ActiveLearningConfig, per_minute: int | None, per_hour: int | None,
                      per_day: int | None) -> ActiveLearningConfig:
    """The config with LOOP_UPLOAD_QUOTA_PER_* added to its overall quota; where both set a limit, the stricter."""
    def stricter(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else min(a, b)

    quota = config.quota.model_copy(update={"per_minute": stricter(config.quota.per_minute, per_minute),
                                            "per_hour": stricter(config.quota.per_hour, per_hour),
                                            "per_day": stricter(config.quota.per_day, per_day)})
    return config.model_copy(update={"quota": quota})


def _default_rule() -> Rule:
    return ReferenceRule.model_validate({"type": "reference"})


def rule_name(rule: _Rule) -> str:
    return str(rule.tag or getattr(rule, "type", "rule"))


def parse_config(value: str) -> ActiveLearningConfig:
    """LOOP_ACTIVE_LEARNING: JSON, or the path of a JSON file; ValueError with one line saying what is wrong."""
    text = value.strip()
    if text and text[0] not in "{[":
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"{text!r} is neither JSON nor a readable file")
        text = path.read_text()
    try:
        return TypeAdapter(ActiveLearningConfig).validate_json(text or "{}")
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise ValueError(f"{where}: {first['msg']}") from None


class Rules:
    """Evaluates the configured rules on one image's detections; thread-safe (called from inference threads)."""

    def __init__(self, config: ActiveLearningConfig, reference: RelevanceFilter,
                 rng: random.Random | None = None) -> None:
        self.config, self.reference = config, reference
        self._rng = rng or random.Random()

    def picks(self, metadata: ImageMetadata, camera_id: str | None, conf_threshold: float) -> dict[str, list[str]]:
        """For each rule that picks this image: rule name -> the tags it gives the image."""
        found: dict[str, list[str]] = {}
        for rule in self.config.rules:
            tags = self._evaluate(rule, metadata, camera_id, conf_threshold)
            if tags:
                found[rule_name(rule)] = tags
        return found

    def _evaluate(self, rule: _Rule, metadata: ImageMetadata, camera_id: str | None,
                  conf_threshold: float) -> list[str]:
        own = [rule.tag] if rule.tag else []
        if isinstance(rule, ReferenceRule):
            causes = self.reference.causes(metadata, camera_id)
            return (own + causes) if causes else []
        detections: list[BoxDetection | PointDetection | SegmentationDetection | ClassificationDetection] = [
            *metadata.box_detections, *metadata.point_detections, *metadata.segmentation_detections,
            *metadata.classification_detections]
        picked = False
        if isinstance(rule, RandomRule):
            picked = self._rng.random() < rule.fraction
        elif isinstance(rule, ClassRule):
            picked = any(d.category_name in rule.categories and d.confidence >= rule.min_confidence
                         for d in detections)
        elif isinstance(rule, CountRule):
            count = sum(d.category_name == rule.category for d in detections)
            picked = count < rule.fewer_than if rule.fewer_than is not None else count > (rule.more_than or 0)
        elif isinstance(rule, NearThresholdRule):
            picked = any(abs(d.confidence - conf_threshold) <= rule.margin for d in detections
                         if rule.categories is None or d.category_name in rule.categories)
        return (own or [getattr(rule, "type", "rule")]) if picked else []


def load_config(value: str | None) -> ActiveLearningConfig:
    return parse_config(value) if value else ActiveLearningConfig()
