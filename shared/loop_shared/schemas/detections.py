"""Detections, annotations and image metadata as the detector returns and uploads them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Point(_Wire):
    """A polygon corner. The reference's fields are ints (its dacite parsing refuses `12.0`), so integer pixels
    stay JSON integers; floats (a scaled outline) are kept as they are."""

    x: int | float
    y: int | float


class Shape(_Wire):
    points: list[Point]


class BoxDetection(_Wire):
    """Top-left corner and size in integer pixels (COCO style)."""

    category_name: str
    x: int
    y: int
    width: int
    height: int
    model_name: str
    confidence: float
    category_id: str | None = None


class PointDetection(_Wire):
    category_name: str
    x: float
    y: float
    model_name: str
    confidence: float
    category_id: str | None = None


class SegmentationDetection(_Wire):
    category_name: str
    shape: Shape | str
    model_name: str
    confidence: float
    category_id: str | None = None


class ClassificationDetection(_Wire):
    category_name: str
    model_name: str
    confidence: float
    category_id: str | None = None


class BoxAnnotation(_Wire):
    category_name: str
    x: int
    y: int
    width: int
    height: int
    category_id: str | None = None


class PointAnnotation(_Wire):
    category_name: str
    x: float
    y: float
    category_id: str | None = None


class SegmentationAnnotation(_Wire):
    """A polygon annotation, as annotation nodes send it (`update_segmentation_annotation`)."""

    id: str
    shape: Shape
    image_id: str
    category_id: str


class ClassificationAnnotation(_Wire):
    category_name: str
    category_id: str | None = None


class ImageMetadata(_Wire):
    """What the detector answers for one image and what the outbox uploads next to the JPEG.

    `image_size` and `model_version` are our additions; reference clients ignore unknown keys.
    """

    box_detections: list[BoxDetection] = Field(default_factory=list)
    point_detections: list[PointDetection] = Field(default_factory=list)
    segmentation_detections: list[SegmentationDetection] = Field(default_factory=list)
    classification_detections: list[ClassificationDetection] = Field(default_factory=list)
    box_annotations: list[BoxAnnotation] = Field(default_factory=list)
    point_annotations: list[PointAnnotation] = Field(default_factory=list)
    classification_annotation: ClassificationAnnotation | None = None
    tags: list[str] = Field(default_factory=list)
    created: str | None = None
    source: str | None = None
    state: str | None = None
    image_size: dict[str, int] | None = None
    model_version: str | None = None

    def detection_count(self) -> int:
        return (len(self.box_detections) + len(self.point_detections)
                + len(self.segmentation_detections) + len(self.classification_detections))


class ImagesMetadata(_Wire):
    items: list[ImageMetadata] = Field(default_factory=list)


class Detections(_Wire):
    """The trainer's detections for one Loop image (`POST .../detections`)."""

    box_detections: list[BoxDetection] = Field(default_factory=list)
    point_detections: list[PointDetection] = Field(default_factory=list)
    segmentation_detections: list[SegmentationDetection] = Field(default_factory=list)
    classification_detections: list[ClassificationDetection] = Field(default_factory=list)
    image_id: str | None = None
