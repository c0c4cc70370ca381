"""Every Loop REST call the nodes make: its method, its path template and whether it needs the login.

The templates are written in FastAPI's syntax, so the stub Loop declares its routes from these same constants
(`@router.get(MODELS.template)`) while the client formats them (`MODELS.path(org=..., project=...)`); the two
cannot drift apart. All of them live below the Loop's `/api` prefix (the client's base URL and the stub's router
prefix carry it). Values reach a path unquoted: callers pass only names `loop_shared.names` accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from .models import DeploymentTarget, ImageIds, ImageList, ModelList, ProjectList, UploadedModel

API_PREFIX = "/api"


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    login: bool = True  # whether the reference client logs in first (it does not for downloads and uploads)
    answer: type[BaseModel] | None = None  # the model of a JSON answer the nodes read (the stub's response model)

    def path(self, **values: str | int) -> str:
        """The path below `/api` with the placeholders filled in; a missing value is a KeyError."""
        return self.template.format(**values)


_PROJECT = "/{org}/projects/{project}"

STATUS = Endpoint("GET", "/status", login=False)
LOGIN = Endpoint("POST", "/login", login=False)
PROJECTS = Endpoint("GET", "/projects", answer=ProjectList)
DEPLOYMENT_TARGET = Endpoint("GET", f"{_PROJECT}/deployment/target", answer=DeploymentTarget)
MODELS = Endpoint("GET", f"{_PROJECT}/models", answer=ModelList)
MODEL_FILE = Endpoint("GET", f"{_PROJECT}/models/{{model_id}}/{{fmt}}/file", login=False)
MODEL_FORMAT_UPLOAD = Endpoint("PUT", f"{_PROJECT}/models/{{model_id}}/{{fmt}}/file", answer=UploadedModel)
TRAINING_MODEL_UPLOAD = Endpoint("PUT", f"{_PROJECT}/trainings/{{number}}/models/latest/{{fmt}}/file",
                                 answer=UploadedModel)
DETECTOR_STATUS = Endpoint("POST", f"{_PROJECT}/detectors")
IMAGE_UPLOAD = Endpoint("POST", f"{_PROJECT}/images", login=False)
IMAGE_IDS = Endpoint("GET", f"{_PROJECT}/data", answer=ImageIds)
IMAGE_DATA = Endpoint("GET", f"{_PROJECT}/images", answer=ImageList)
IMAGE_FILE = Endpoint("GET", f"{_PROJECT}/images/{{image_id}}/main")
DETECTIONS = Endpoint("POST", f"{_PROJECT}/detections")

ALL: tuple[Endpoint, ...] = (STATUS, LOGIN, PROJECTS, DEPLOYMENT_TARGET, MODELS, MODEL_FILE, MODEL_FORMAT_UPLOAD,
                             TRAINING_MODEL_UPLOAD, DETECTOR_STATUS, IMAGE_UPLOAD, IMAGE_IDS, IMAGE_DATA, IMAGE_FILE,
                             DETECTIONS)
