"""An in-memory fake of the typed Loop API (loop_shared.loop_api) for unit tests of one node component.

`FakeLoop` has `LoopApi`'s methods and `FakeProject` those of `ProjectApi`; they keep what was uploaded, serve
what a test put in, and raise what a test scheduled (`fail(method, error)`), the same typed errors as the real
API. No HTTP, no processes: the real API is proven against the stub by tests/stub_loop/test_api_parity.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop_shared.errors import LoopNotFoundError
from loop_shared.loop_api import DeploymentTarget, LoopImage, LoopModel, ModelList, Multipart, ProjectList, StoredModel
from loop_shared.schemas import Detections, DetectorStatus


@dataclass
class FakeProject:
    org: str
    project: str
    target: DeploymentTarget | None = None
    model_list: list[LoopModel] = field(default_factory=list)
    packages: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (model id, format) -> zip
    image_data: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> image data (with "state")
    jpegs: dict[str, bytes] = field(default_factory=dict)
    model_uploads: list[dict[str, Any]] = field(default_factory=list)
    detections: list[Detections] = field(default_factory=list)
    detector_reports: list[DetectorStatus] = field(default_factory=list)
    image_uploads: list[Multipart] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=lambda: defaultdict(list))

    def fail(self, method: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error`."""
        self.failures[method].extend([error] * times)

    def _call(self, method: str) -> None:
        self.calls.append(method)
        if self.failures.get(method):
            raise self.failures[method].pop(0)

    # models and deployment -----------------------------------------------------------------------------------
    async def deployment_target(self) -> DeploymentTarget:
        self._call("deployment_target")
        if self.target is None:
            raise LoopNotFoundError("no deployment target", 404)
        return self.target

    async def models(self) -> ModelList:
        self._call("models")
        return ModelList(models=list(self.model_list))

    async def download_model(self, model_id: str, fmt: str, dest_dir: Path, filename: str) -> Path:
        self._call("download_model")
        if (model_id, fmt) not in self.packages:
            raise LoopNotFoundError(f"no {fmt} package of {model_id}", 404)
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / filename
        target.write_bytes(self.packages[(model_id, fmt)])
        return target

    async def upload_training_model(self, number: int, fmt: str, files: list[Path],
                                    model_json: dict[str, Any]) -> StoredModel:
        self._call("upload_training_model")
        known = next((u for u in self.model_uploads if u.get("number") == number), None)
        model_id = known["id"] if known else f"model-{number}"
        already = any(u["number"] == number and u["format"] == fmt for u in self.model_uploads)
        if not already:
            self.model_uploads.append({"id": model_id, "number": number, "format": fmt,
                                       "files": [p.name for p in files], "model_json": model_json})
        return StoredModel(id=model_id, already_stored=already)

    async def upload_model_format(self, model_id: str, fmt: str, files: list[Path],
                                  model_json: dict[str, Any]) -> StoredModel:
        self._call("upload_model_format")
        already = any(u["id"] == model_id and u["format"] == fmt for u in self.model_uploads)
        if not already:
            self.model_uploads.append({"id": model_id, "number": None, "format": fmt,
                                       "files": [p.name for p in files], "model_json": model_json})
        return StoredModel(id=model_id, already_stored=already)

    # detectors -----------------------------------------------------------------------------------------------
    async def report_detector(self, status: DetectorStatus, attempts: int = 2) -> None:
        self._call("report_detector")
        self.detector_reports.append(status)

    async def upload_images(self, files: Multipart, timeout: float = 120.0) -> None:
        self._call("upload_images")
        self.image_uploads.append(files)

    # images and detections -----------------------------------------------------------------------------------
    async def image_ids(self, state: str | None = None) -> list[str]:
        self._call("image_ids")
        return [i for i, data in self.image_data.items() if state is None or data.get("state") == state]

    async def images(self, ids: list[str]) -> list[LoopImage]:
        self._call("images")
        return [LoopImage.model_validate({"id": i, **self.image_data[i]}) for i in ids if i in self.image_data]

    async def download_image(self, image_id: str, dest_dir: Path) -> Path:
        self._call("download_image")
        if image_id not in self.jpegs:
            raise LoopNotFoundError(f"no image {image_id}", 404)
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{image_id}.jpg"
        target.write_bytes(self.jpegs[image_id])
        return target

    async def upload_detections(self, batch: list[Detections]) -> None:
        self._call("upload_detections")
        self.detections.extend(batch)


@dataclass
class FakeLoop:
    """`LoopApi`'s shape: the project fakes by (organization, project), created on first use."""

    projects_by_name: dict[tuple[str, str], FakeProject] = field(default_factory=dict)

    def project(self, org: str, project: str) -> FakeProject:
        return self.projects_by_name.setdefault((org, project), FakeProject(org, project))

    async def check_ready(self, timeout: float = 10.0) -> None:
        return None

    async def projects(self) -> ProjectList:
        return ProjectList.model_validate({"projects": [{"organization_id": o, "project_id": p}
                                                        for o, p in self.projects_by_name]})
