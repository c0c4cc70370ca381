"""ONNX Runtime execution providers: which to ask for, with which options, and falling back when one fails.

`LOOP_ORT_PROVIDERS` lists them in order of preference (default: every local accelerator this onnxruntime build
has, best first: TensorRT, CUDA, ROCm, MIGraphX, OpenVINO, DirectML, CoreML, QNN, then the CPU). A provider the
build lacks, or one that fails to start (no GPU, missing CUDA libraries), is skipped with one warning and the next
one is tried; the CPU provider is always the last resort. TensorRT keeps its engines under
`LOOP_DATA_DIR/trt_engines`, so an engine is built once per model and GPU and found again after a restart.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort

from .settings import DetectorSettings

log = logging.getLogger("detector.providers")
CPU = "CPUExecutionProvider"
# the default order: accelerators that run the whole model on this machine, best first (onnxruntime's list of
# available providers also holds ones such as Azure's remote provider, which are not what "best available" means)
LOCAL_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                    "MIGraphXExecutionProvider", "OpenVINOExecutionProvider", "DmlExecutionProvider",
                    "CoreMLExecutionProvider", "QNNExecutionProvider", CPU)
Provider = tuple[str, dict[str, Any]]


def provider_options(name: str, settings: DetectorSettings) -> dict[str, Any]:
    device = settings.ort_device_id
    if name == "TensorrtExecutionProvider":
        cache = settings.data_dir / "trt_engines"
        cache.mkdir(parents=True, exist_ok=True)
        return {"device_id": device, "trt_fp16_enable": settings.trt_fp16, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache)}
    if name in ("CUDAExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider"):
        return {"device_id": device}
    if name == "OpenVINOExecutionProvider":
        return {"device_type": settings.openvino_device}
    return {}


def wanted_providers(settings: DetectorSettings) -> list[Provider]:
    """The providers to try, in order, each with its options; those this build lacks are left out (warned)."""
    available = ort.get_available_providers()
    names = settings.ort_provider_list or [p for p in LOCAL_PREFERENCE if p in available]
    missing = [n for n in names if n not in available]
    if missing:
        log.warning("LOOP_ORT_PROVIDERS names %s, which this onnxruntime build (%s) cannot use; available: %s",
                    ", ".join(missing), ort.get_device(), ", ".join(available))
    chosen = [n for n in names if n in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return [(n, provider_options(n, settings)) for n in chosen]


@functools.cache
def _load_cuda_libraries() -> None:
    """onnxruntime-gpu finds CUDA and cuDNN in NVIDIA's wheels (the GPU image's way) only when asked to load
    them; without a GPU or with the libraries elsewhere this fails quietly and the CUDA provider reports why."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception as e:  # a missing driver or library: the provider's own start-up error says more
            log.debug("preloading the CUDA libraries failed: %s", e)


def create_session(model: Path, options: ort.SessionOptions, settings: DetectorSettings) -> ort.InferenceSession:
    """A session on the first provider that starts; `session.get_providers()[0]` is the one that serves."""
    providers = wanted_providers(settings)
    if any(name in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for name, _ in providers):
        _load_cuda_libraries()
    for index, (name, _) in enumerate(providers):
        remaining = providers[index:]
        try:
            session = ort.InferenceSession(str(model), options, providers=[p for p, _ in remaining],
                                           provider_options=[o for _, o in remaining])
        except Exception as e:  # onnxruntime raises plain RuntimeErrors (Fail, NoSuchFile...) for a provider
            if name == CPU:
                raise
            log.warning("execution provider %s cannot start (%s); trying %s", name, " ".join(str(e).split())[:200],
                        remaining[1][0])
            continue
        serving = session.get_providers()[0]
        if serving != name:  # onnxruntime itself fell back, e.g. CUDA without a GPU
            log.warning("execution provider %s did not start; %s runs the model", name, serving)
        return session
    raise AssertionError("unreachable: the CPU provider is always tried last")
