"""The stub's own answers: one pydantic model each, so `/docs` shows them.

The node-facing Loop API (paths, bodies, answers) is defined once in `loop_shared`, for the nodes and the stub
alike: where a route answers what the nodes read (a model, an image's data, a category, a detector's status), these
models are those, or extend them. `/health`, `/ready` and `/metrics` answer `loop_shared.node_routes`' models.

Records the stub keeps open-ended (a training's stored fields, a model's, an image's) allow extra keys, so an answer
carries all of them; the others list every key. The models here give no field a default: a default would add a key
the stub never sent (tests/stub_loop/test_answer_models.py compares the answers with what the store holds).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loop_shared.loop_api import LoopImage, LoopModel
from loop_shared.schemas import Category, DetectorStatus


class StubStatus(BaseModel):
    """`GET /status`: what the stub Loop holds and who is connected (a test double, not the Learning Loop)."""

    projects: int = Field(description="Projects in the store.")
    trainers: int = Field(description="Trainers connected over Socket.IO.")


class StatusMessage(BaseModel):
    """A one-line answer: `ok` (`GET /api/status`), `logged in`, `logged out`, `OK` (a detector's status), `deleted`."""

    status: str


# projects and images -------------------------------------------------------------------------------------------
class GeneratedProject(BaseModel):
    """`POST /api/{org}/projects/generator`: the project made, its categories and how many images per state."""

    organization: str
    project: str
    categories: list[Category]
    image_counts: dict[str, int] = Field(description="Images generated per state (states with none left out).")


class ProjectInfo(BaseModel):
    """`GET /api/{org}/projects/{project}`: the project's name and categories."""

    id: str = Field(description="The project's name.")
    organization: str
    categories: list[Category]


class ImagesReceived(BaseModel):
    """`POST .../images` (the detectors' outbox): images stored now, and images already known (not stored twice)."""

    stored: int
    duplicates: int


class DetectionsReceived(BaseModel):
    """`POST .../detections` (a trainer's detection pass): detections stored, and those of images not in the project."""

    stored: int
    unknown_images: int


class ModelWithFigures(LoopModel):
    """A model on the page: its record plus, per format, what its model.json says about its quality."""

    figures: dict[str, dict[str, Any]] = Field(description="Per format: map50, metrics, conversion, resolution, "
                                                           "architecture, where its model.json has them.")


class ImagePage(BaseModel):
    """`GET /ui/{org}/{project}/images`: one page of image data (annotations and detections)."""

    total: int = Field(description="Images of the state (or of all states) in the project.")
    offset: int
    images: list[LoopImage]


# trainings, trainers, detectors --------------------------------------------------------------------------------
class Training(BaseModel):
    """A training as the stub keeps it. Beside these fields it carries what trainers reported while it ran:
    `progress`, `errors`, `states` (its state history), `timeline`, `seen_active` and `metrics_history`."""

    model_config = ConfigDict(extra="allow")

    id: str
    organization: str
    project: str
    number: int
    trainer_id: str
    state: str = Field(description="requested, initialized, a trainer's state while it runs, done, failed, aborted.")
    created: str
    updated: str
    model_id: str | None = Field(description="The model the training uploaded; None before its first upload.")
    details: dict[str, Any] = Field(description="What `begin_training` sent the trainer.")
    status: dict[str, Any] | None = Field(description="The trainer's last status while this training ran.")
    metrics: dict[str, Any] | None = Field(description="The trainer's last metrics update.")
    error: Any = Field(description="Why the trainer refused the training (its `error_msg`); None otherwise.")


class ChartPoint(BaseModel):
    model_id: str
    training_number: int


class Chart(BaseModel):
    data: list[ChartPoint]


class TrainingList(BaseModel):
    """`GET .../trainings`: every training, and the models they made as the Loop's `charts` show them (newest first)."""

    trainings: list[Training]
    charts: list[Chart]


class TrainingAck(BaseModel):
    """`POST .../trainings/{number}/stop` or `/abort`: the trainer's acknowledgement, as it sent it."""

    ack: Any


class ConnectedTrainer(BaseModel):
    sid: str = Field(description="The Socket.IO session.")
    organization: str = Field(description="The project the trainer serves (empty: any).")
    project: str
    status: dict[str, Any] | None = Field(description="The trainer's last `update_trainer` status.")


class TrainerList(BaseModel):
    """`GET /api/trainers`: trainers connected over Socket.IO and their last status (stub only)."""

    trainers: list[ConnectedTrainer]


class ConnectedAnnotator(ConnectedTrainer):
    status: dict[str, Any] | None = Field(description="The annotation node's last `update_annotation_node` status.")


class AnnotatorList(BaseModel):
    """`GET /api/annotators`: annotation nodes connected over Socket.IO and their last status (stub only)."""

    annotators: list[ConnectedAnnotator]


class AnnotatorAck(BaseModel):
    """`POST .../annotator/input`: the annotation node's acknowledgement of `handle_user_input`, as it sent it."""

    model_config = ConfigDict(extra="allow")

    success: bool
    # defaults for /docs only: the route answers the node's ack verbatim, as JSON, without this model
    error_msg: str | None = Field(None, description="Why the input failed; None when it did not.")
    payload: Any = Field(None, description="The SVG to draw over the image (`\"\"` after Escape); None on failure.")


class LogoutRequest(BaseModel):
    """`POST .../annotator/logout`: which frontend logs out."""

    model_config = ConfigDict(extra="forbid")

    frontend_id: str | None = Field(None, min_length=1, max_length=200, description=(
        "The frontend whose history the node forgets; default the one that REST inputs without a frontend_id "
        "share."))


class SeenDetector(DetectorStatus):
    """A detector's last status report and when it came."""

    model_config = ConfigDict(extra="allow")

    last_seen: str


class DetectorList(BaseModel):
    """`GET .../detectors`: the last status of every detector that reported to the project."""

    detectors: list[SeenDetector]


# the page ------------------------------------------------------------------------------------------------------
class ProjectSummary(BaseModel):
    organization: str
    project: str
    images: dict[str, int] = Field(description="Images per state, and `with_detections`.")
    trainings: dict[str, int] = Field(description="Trainings per state.")
    models: int
    deployed: str | None = Field(description="The version of the deployment target.")


class ProjectSummaries(BaseModel):
    """`GET /ui/projects`: every project with its counts."""

    projects: list[ProjectSummary]


class ProjectPage(BaseModel):
    """`GET /ui/{org}/{project}`: what the page shows of one project."""

    organization: str
    project: str
    categories: list[Category]
    images: dict[str, int] = Field(description="Images per state, and `with_detections`.")
    models: list[ModelWithFigures]
    deployed: str | None = Field(description="The version of the deployment target.")
    trainings: list[Training]
    detectors: list[SeenDetector]


# what the stub received ----------------------------------------------------------------------------------------
class _Where(BaseModel):
    organization: str
    project: str


class ReceivedImage(_Where):
    identifier: str = Field(description="The image's identifier in its upload (the file stem without `image_`).")
    sha256: str = Field(description="The start of the JPEG's SHA-256 digest.")
    count: int = Field(description="How many times it arrived.")
    first: str
    last: str


class ReceivedModelFormat(_Where):
    model_id: str
    format: str
    count: int = Field(description="How many times it arrived.")
    first: str
    last: str


class ReceivedDetections(_Where):
    image_id: str
    count: int = Field(description="How many times detections of the image arrived.")
    first: str
    last: str


class ReceivedSegmentationAnnotation(_Where):
    annotation_id: str
    image_id: Any = Field(description="As it arrived (the last arrival), like `category_id` and `points`.")
    category_id: Any
    points: Any = Field(description="The polygon's corners in image pixels, `[{x, y}, ...]`.")
    refused: str | None = Field(description="Why the stub did not store the last arrival; None: stored.")
    count: int = Field(description="How many times it arrived.")
    first: str
    last: str


class ArrivalSummary(BaseModel):
    received: int
    distinct: int
    repeats: int = Field(description="Arrivals of something that had arrived before.")


class ReceivedSummary(BaseModel):
    images: ArrivalSummary
    model_formats: ArrivalSummary
    detections: ArrivalSummary
    segmentation_annotations: ArrivalSummary


class Received(BaseModel):
    """`GET /api/stats/received`: every upload as it arrived, repeats included."""

    images: list[ReceivedImage]
    models: list[ReceivedModelFormat]
    detections: list[ReceivedDetections]
    segmentation_annotations: list[ReceivedSegmentationAnnotation]
    summary: ReceivedSummary


def files_body(what: str) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads repeated multipart `files` parts itself (the request's form, not
    FastAPI parameters), so that `/docs` and the fuzzer know what to send."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["files"], "properties": {"files": {
            "type": "array", "items": {"type": "string", "format": "binary"}, "description": what}}}}}}}
