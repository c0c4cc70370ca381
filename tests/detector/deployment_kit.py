"""What the deployment's unit tests share: settings, an engine with a fake logic, model packages, a fake Loop."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from prometheus_client import CollectorRegistry

from loop_detector.active_learning import Rules, load_config
from loop_detector.deployment import Deployment
from loop_detector.engine import Engine
from loop_detector.logic import DetectorLogic
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import Outbox
from loop_detector.quotas import QuotaBook
from loop_detector.relevance_filter import RelevanceFilter
from loop_detector.settings import DetectorSettings
from loop_detector.upload_policy import UploadPolicy
from loop_shared.loop_api import DeploymentTarget, LoopModel
from loop_shared.loop_client import LoopClient
from loop_shared.schemas import ImageMetadata
from loop_shared.settings import load_settings
from loop_shared.tasks import TaskHealth
from tests.fake_loop import FakeLoop, FakeProject

ORG, PROJECT = "o", "p"


class FakeLogic(DetectorLogic):
    """Loads any package whose weights are not b"broken"; finds nothing."""

    model_format: ClassVar[str] = "onnx"
    model_formats: ClassVar[tuple[str, ...]] = ("onnx_int8", "onnx")

    def load(self) -> None:
        if (self.model_dir / "model.onnx").read_bytes() == b"broken":
            raise RuntimeError("the model does not load")

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return ImageMetadata()


def settings(tmp_path: Path, **overrides: Any) -> DetectorSettings:
    values: dict[str, Any] = {"organization": ORG, "project": PROJECT, "host": "loop.test",
                              "data_dir": tmp_path / "data", "model_formats": "onnx_int8,onnx"}
    return load_settings(DetectorSettings, **{**values, **overrides})


def engine(s: DetectorSettings, metrics: DetectorMetrics) -> Engine:
    outbox = Outbox(s.data_dir / "outbox", s, LoopClient(s), metrics)  # never started: nothing leaves
    config = load_config(None)
    policy = UploadPolicy(config, Rules(config, RelevanceFilter(s)), QuotaBook(s.data_dir / "q.json"), metrics)
    return Engine(s, metrics, policy, outbox)


def package(model_id: str, version: str, weights: bytes = b"weights") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", weights)
        archive.writestr("model.json", json.dumps({"id": model_id, "organization": ORG, "project": PROJECT,
                                                   "version": version, "categories": [], "resolution": 32}))
    return buffer.getvalue()


def publish(project: FakeProject, model_id: str, version: str, formats: dict[str, bytes] | None = None) -> None:
    """A model on the fake Loop, in these formats (default: onnx with loadable weights)."""
    formats = formats if formats is not None else {"onnx": b"weights"}
    project.model_list = [m for m in project.model_list if m.id != model_id]
    project.model_list.append(LoopModel(id=model_id, version=version, formats=list(formats)))
    for fmt, weights in formats.items():
        project.packages[(model_id, fmt)] = package(model_id, version, weights)


def deploy(project: FakeProject, model_id: str, version: str) -> None:
    project.target = DeploymentTarget(model_uuid=model_id, version=version)


def deployment(tmp_path: Path, loop: FakeLoop | None = None, **overrides: Any) -> Deployment:
    s = settings(tmp_path, **overrides)
    metrics = DetectorMetrics()
    project = (loop or FakeLoop()).project(ORG, PROJECT)
    return Deployment(s, project, engine(s, metrics), FakeLogic, metrics, "det-1", "detector",  # type: ignore[arg-type]
                      TaskHealth(CollectorRegistry(), "test_detector"))
