"""Pydantic models of everything that crosses the wire between nodes and the Loop.

Field names and JSON shapes follow the reference protocol exactly; both our nodes and the stub Loop use them,
so client and server cannot drift.
"""

from .annotation import (
    AnnotationCategory,
    AnnotationContext,
    AnnotationData,
    AnnotationEventType,
    AnnotationNodeStatus,
    Coordinate,
    ToolOutput,
    UserInput,
)
from .detections import (
    BoxAnnotation,
    BoxDetection,
    ClassificationAnnotation,
    ClassificationDetection,
    Detections,
    ImageMetadata,
    ImagesMetadata,
    Point,
    PointAnnotation,
    PointDetection,
    SegmentationAnnotation,
    SegmentationDetection,
    Shape,
)
from .models import Category, CategoryType, ModelInformation
from .status import (
    AboutResponse,
    DetectorStatus,
    ModelVersionResponse,
    OperationMode,
    OutboxMode,
    SocketResponse,
    VersionMode,
)
from .training import (
    Context,
    PretrainedModel,
    TrainerState,
    TrainingDetails,
    TrainingOut,
    TrainingStatus,
)

__all__ = [
    "AboutResponse",
    "AnnotationCategory",
    "AnnotationContext",
    "AnnotationData",
    "AnnotationEventType",
    "AnnotationNodeStatus",
    "BoxAnnotation",
    "BoxDetection",
    "Category",
    "CategoryType",
    "ClassificationAnnotation",
    "ClassificationDetection",
    "Context",
    "Coordinate",
    "Detections",
    "DetectorStatus",
    "ImageMetadata",
    "ImagesMetadata",
    "ModelInformation",
    "ModelVersionResponse",
    "OperationMode",
    "OutboxMode",
    "Point",
    "PointAnnotation",
    "PointDetection",
    "PretrainedModel",
    "SegmentationAnnotation",
    "SegmentationDetection",
    "Shape",
    "SocketResponse",
    "ToolOutput",
    "TrainerState",
    "TrainingDetails",
    "TrainingOut",
    "TrainingStatus",
    "UserInput",
    "VersionMode",
]
