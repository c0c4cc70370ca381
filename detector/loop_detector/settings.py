"""Detector configuration: the shared `LOOP_*` options plus the detector's own."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from loop_shared.names import safe_name
from loop_shared.schemas import VersionMode
from loop_shared.settings import NodeSettings


def comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class DetectorSettings(NodeSettings):
    organization: str = Field(description="Organization id on the Loop (required).")
    project: str = Field(description="Project id on the Loop (required).")
    node_port: int = Field(8004, ge=1, le=65535, description="Port of the detector's REST and Socket.IO API.")
    detector_logic: str = Field("loop_detector.onnx_logic:OnnxDetectorLogic",
                                description="Import path of the DetectorLogic plugin class.")
    conf_threshold: float | None = Field(None, ge=0, le=1, description="Detections at or below this confidence "
                                         "are dropped (default: the model's conf_threshold from model.json, else "
                                         "0.2).")
    iou_threshold: float | None = Field(None, gt=0, le=1, description="IoU above which NMS suppresses a box of the "
                                        "same class (default: the model's iou_threshold from model.json, else "
                                        "0.45).")
    inference_workers: int = Field(default_factory=lambda: (os.cpu_count() or 2) + 1, ge=1,
                                   description="Threads running decode and inference concurrently (one more than "
                                   "CPUs, so that one decodes while the others infer).")
    ort_intra_threads: int = Field(1, ge=0, description="ONNX Runtime intra-op threads per inference (0: "
                                   "runtime default).")
    max_image_bytes: int = Field(32 * 2**20, gt=0, description="Largest accepted image upload in bytes.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Largest accepted image in pixels (w*h); also "
                                  "the most pixels a batch request holds decoded at once.")
    max_request_bytes: int = Field(64 * 2**20, gt=0, description="Largest body of a request with several images "
                                   "(/detect/batch, /upload) in bytes; cut off while it streams.")
    poll_interval: float = Field(5.0, gt=0, description="Seconds between deployment-target checks.")
    status_interval: float = Field(30.0, gt=0, description="Seconds between status reports to the Loop.")
    version_control_default: VersionMode = Field(VersionMode.FOLLOW_LOOP, description="follow_loop or pause at "
                                                 "first start; later the persisted mode wins.")
    min_uncertain_threshold: float = Field(0.3, ge=0, le=1, description="Lower bound of the uncertain window.")
    max_uncertain_threshold: float = Field(0.6, ge=0, le=1, description="Upper bound of the uncertain window.")
    unexpected_observations_count: int = Field(80, ge=1, description="This many detections in one image make "
                                               "it worth uploading.")
    observation_memory_seconds: float = Field(3600.0, gt=0, description="How long a seen object is remembered.")
    max_observations_per_camera: int = Field(2000, ge=1, description="Bound on the filter's memory per camera.")
    max_cameras: int = Field(256, ge=1, description="Cameras remembered by the filter (least recent forgotten).")
    outbox_max_items: int = Field(10_000, ge=1, description="Outbox budget: items on disk.")
    outbox_max_mb: int = Field(2048, ge=1, description="Outbox budget: megabytes on disk.")
    outbox_batch_size: int = Field(20, ge=1, le=500, description="Images per upload request.")
    outbox_backoff_cap: float = Field(60.0, gt=0, description="Longest wait between failed uploads (s).")
    outbox_drain_seconds: float = Field(10.0, ge=0, le=600, description="At shutdown, keep delivering waiting "
                                        "images for up to this long while the Loop takes them (keep it below the "
                                        "orchestrator's stop grace period); 0: leave them on disk for the next "
                                        "start.")
    node_version: str | None = Field(None, description="Reported to the Loop as node_version.")
    replica_id: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.\-]*$", description="This replica's id "
                            "when several detectors serve one project (Swarm: {{.Task.Slot}}, Kubernetes: the pod "
                            "name): added to the name the Loop sees, so each replica has its own identity, and "
                            "names its outbox directory (outboxes/<id>). Empty: a single detector.")
    active_learning: str | None = Field(None, description="Active-learning rules and quotas: JSON, or the path "
                                        "of a JSON file (see the README). Default: the reference rules, unlimited.")
    upload_quota_per_minute: int | None = Field(None, ge=0, description="At most this many images a minute go to "
                                                "the Loop (priority uploads excepted); unset: no limit.")
    upload_quota_per_hour: int | None = Field(None, ge=0, description="At most this many images an hour go to the "
                                              "Loop (priority uploads excepted); unset: no limit.")
    upload_quota_per_day: int | None = Field(None, ge=0, description="At most this many images a day go to the Loop "
                                             "(priority uploads excepted); unset: no limit.")
    upload_max_side: int | None = Field(None, ge=16, description="Uploads are scaled down to this longest side "
                                        "(detections with them); unset: full size.")
    upload_jpeg_quality: int | None = Field(None, ge=1, le=100, description="Uploads are re-encoded as JPEG at "
                                            "this quality; unset: sent as they came (85 when scaled down).")
    model_formats: str = Field("", description="Model formats in order of preference, comma-separated (e.g. "
                               "onnx_int8,onnx): the first the Loop has for the target is served, and a better one "
                               "that appears later replaces it. Default: the logic's own format (onnx).")
    ort_providers: str = Field("", description="ONNX Runtime execution providers in order of preference, "
                               "comma-separated (e.g. TensorrtExecutionProvider,CUDAExecutionProvider,"
                               "CPUExecutionProvider). Default: every provider this build has, best first. One "
                               "that cannot start is skipped with a warning; the CPU is always the last resort.")
    ort_device_id: int = Field(0, ge=0, description="GPU the CUDA and TensorRT providers use.")
    trt_fp16: bool = Field(False, description="Let TensorRT build FP16 engines.")
    openvino_device: str = Field("CPU", description="OpenVINO device type (CPU, GPU, NPU, AUTO, ...).")

    @field_validator("active_learning")
    @classmethod
    def _active_learning(cls, value: str | None) -> str | None:
        from .active_learning import parse_config  # raises ValueError with the field that is wrong

        if value:
            parse_config(value)
        return value

    @field_validator("model_formats")
    @classmethod
    def _formats(cls, value: str) -> str:
        for name in comma_list(value):
            safe_name(name, "model format")
        return value

    @field_validator("ort_providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        import onnxruntime as ort  # only here: settings stay cheap to import where no provider is named

        unknown = [p for p in comma_list(value) if p not in ort.get_all_providers()]
        if unknown:
            raise ValueError(f"unknown execution provider {', '.join(unknown)}; known: "
                             f"{', '.join(ort.get_all_providers())}")
        return value

    @property
    def model_format_list(self) -> list[str]:
        return comma_list(self.model_formats)

    @property
    def ort_provider_list(self) -> list[str]:
        return comma_list(self.ort_providers)
