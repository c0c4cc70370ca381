"""The typed Loop API: one method per Loop call the nodes make, typed answers, typed errors.

`LoopApi` wraps the node's `LoopClient` (the transport: login, retries with backoff, Retry-After, streaming
downloads) and adds what every caller used to repeat: the path (from paths.py), the parameters and body, the
status that counts as success, the model the answer is parsed into, and the error class for everything else
(`LoopClient.answer_error`). `ProjectApi` is the same API bound to one organization and project.

Unit tests of the nodes replace a `ProjectApi` with an in-memory fake that has the same methods.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import LoopConflictError, LoopResponseError, LoopUnavailableError
from ..schemas import Detections, DetectorStatus
from . import paths
from .models import DeploymentTarget, ImageIds, ImageList, LoopImage, ModelList, ProjectList, StoredModel

if TYPE_CHECKING:
    from ..loop_client import LoopClient

T = TypeVar("T", bound=BaseModel)
IMAGES_PER_REQUEST = 100  # image data is asked for in chunks of this many ids, as the reference client does
UPLOAD_TIMEOUT = 600.0  # a model package may be large and the Loop slow to store it
Multipart = list[tuple[str, tuple[str, bytes, str]]]


def _answer(response: httpx.Response, endpoint: paths.Endpoint, path: str, any_2xx: bool = False) -> None:
    """Raise the typed error unless the answer is a success (200, or any 2xx where the reference accepts that)."""
    from ..loop_client import answer_error  # the client module imports paths from this package

    if response.status_code == 200 or (any_2xx and response.is_success):
        return
    raise answer_error(endpoint.method, path, response.status_code, response.text, response.headers)


def _parse(response: httpx.Response, model: type[T], path: str) -> T:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as e:
        raise LoopResponseError(f"GET {path}: the answer is not {model.__name__}: {e.errors()[0]['msg']} at "
                                f"{e.errors()[0]['loc']}", response.status_code) from e


def _model_parts(files: list[Path], model_json: dict[str, Any]) -> Multipart:
    """Model files and model.json as repeated multipart `files` parts (the field name the Loop reads)."""
    parts: Multipart = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in files]
    parts.append(("files", ("model.json", json.dumps(model_json).encode(), "application/json")))
    return parts


def _model_id(body: Any) -> str | None:
    model_id = body.get("id") if isinstance(body, dict) else None
    return model_id if isinstance(model_id, str) else None


class LoopApi:
    """The calls that are not about one project, and the way to a project's."""

    def __init__(self, client: LoopClient) -> None:
        self.client = client

    def project(self, org: str, project: str) -> ProjectApi:
        return ProjectApi(self.client, org, project)

    async def check_ready(self, timeout: float = 10.0) -> None:
        """`GET /api/status` once, without login; LoopUnavailableError unless it answers 200."""
        path = paths.STATUS.path()
        response = await self.client.request("GET", path, requires_login=False, attempts=1, timeout=timeout)
        if response.status_code != 200:
            raise LoopUnavailableError(f"the Loop's /api{path} answered {response.status_code}", response.status_code)

    async def projects(self) -> ProjectList:
        path = paths.PROJECTS.path()
        response = await self.client.get(path)
        _answer(response, paths.PROJECTS, path)
        return _parse(response, ProjectList, path)


class ProjectApi:
    """The Loop calls about one project (`/api/{org}/projects/{project}/...`)."""

    def __init__(self, client: LoopClient, org: str, project: str) -> None:
        self.client, self.org, self.project = client, org, project

    def _path(self, endpoint: paths.Endpoint, **values: str | int) -> str:
        return endpoint.path(org=self.org, project=self.project, **values)

    async def _get(self, endpoint: paths.Endpoint, model: type[T], params: dict[str, str] | None = None) -> T:
        path = self._path(endpoint)
        response = await self.client.get(path, params=params or {})
        _answer(response, endpoint, path)
        return _parse(response, model, path)

    # models and deployment -----------------------------------------------------------------------------------
    async def deployment_target(self) -> DeploymentTarget:
        """LoopNotFoundError while no target is set."""
        return await self._get(paths.DEPLOYMENT_TARGET, DeploymentTarget)

    async def models(self) -> ModelList:
        return await self._get(paths.MODELS, ModelList)

    async def download_model(self, model_id: str, fmt: str, dest_dir: Path, filename: str) -> Path:
        """The package of a model in one format, streamed to `dest_dir/filename`; LoopNotFoundError when the Loop
        has no such model or not in that format."""
        path = self._path(paths.MODEL_FILE, model_id=model_id, fmt=fmt)
        return await self.client.download(path, dest_dir, filename=filename, requires_login=paths.MODEL_FILE.login)

    async def _upload_model(self, endpoint: paths.Endpoint, path: str, files: list[Path],
                            model_json: dict[str, Any]) -> StoredModel:
        parts = await asyncio.to_thread(_model_parts, files, model_json)
        response = await self.client.put(path, files=parts, timeout=UPLOAD_TIMEOUT)
        try:
            _answer(response, endpoint, path)
        except LoopConflictError as e:  # the Loop has this format of the model already: the upload is done
            return StoredModel(id=_model_id(e.detail), already_stored=True)
        try:
            return StoredModel(id=_model_id(response.json()))
        except ValueError as e:
            raise LoopResponseError(f"PUT {path}: the answer is not JSON", response.status_code) from e

    async def upload_training_model(self, number: int, fmt: str, files: list[Path],
                                    model_json: dict[str, Any]) -> StoredModel:
        """A trainer's new model in one format (multipart `files`: the files, then model.json)."""
        path = self._path(paths.TRAINING_MODEL_UPLOAD, number=number, fmt=fmt)
        return await self._upload_model(paths.TRAINING_MODEL_UPLOAD, path, files, model_json)

    async def upload_model_format(self, model_id: str, fmt: str, files: list[Path],
                                  model_json: dict[str, Any]) -> StoredModel:
        """Another format of an existing model (what converters upload)."""
        path = self._path(paths.MODEL_FORMAT_UPLOAD, model_id=model_id, fmt=fmt)
        return await self._upload_model(paths.MODEL_FORMAT_UPLOAD, path, files, model_json)

    # detectors -----------------------------------------------------------------------------------------------
    async def report_detector(self, status: DetectorStatus, attempts: int = 2) -> None:
        """Any 2xx counts, as for the reference detector."""
        path = self._path(paths.DETECTOR_STATUS)
        response = await self.client.post(path, json=status.model_dump(mode="json"), attempts=attempts)
        _answer(response, paths.DETECTOR_STATUS, path, any_2xx=True)

    async def upload_images(self, files: Multipart, timeout: float = 120.0) -> None:
        """The outbox's delivery: repeated multipart `files`, a JSON and a JPEG part per image, sent once (the
        outbox has its own backoff) and without login, as the reference outbox does. Any 2xx counts;
        LoopInvalidError (413/422) means some item in the batch was refused."""
        path = self._path(paths.IMAGE_UPLOAD)
        response = await self.client.request(paths.IMAGE_UPLOAD.method, path, files=files,
                                             requires_login=paths.IMAGE_UPLOAD.login, attempts=1, timeout=timeout)
        _answer(response, paths.IMAGE_UPLOAD, path, any_2xx=True)

    # images and detections -----------------------------------------------------------------------------------
    async def image_ids(self, state: str | None = None) -> list[str]:
        """Ids of the project's images, of one state (inbox, annotate, review, complete) or of all."""
        answer = await self._get(paths.IMAGE_IDS, ImageIds, {"state": state} if state else None)
        return answer.image_ids

    async def images(self, ids: list[str]) -> list[LoopImage]:
        """The data of these images (one request: at most IMAGES_PER_REQUEST ids)."""
        answer = await self._get(paths.IMAGE_DATA, ImageList, {"ids": ",".join(ids)})
        return answer.images

    async def download_image(self, image_id: str, dest_dir: Path) -> Path:
        """An image's JPEG as `dest_dir/{image_id}.jpg`."""
        path = self._path(paths.IMAGE_FILE, image_id=image_id)
        return await self.client.download(path, dest_dir, filename=f"{image_id}.jpg",
                                          requires_login=paths.IMAGE_FILE.login)

    async def upload_detections(self, batch: list[Detections]) -> None:
        """A trainer's detections for some images (at most 100 per request)."""
        path = self._path(paths.DETECTIONS)
        response = await self.client.post(path, json=[d.model_dump(mode="json") for d in batch])
        _answer(response, paths.DETECTIONS, path)
