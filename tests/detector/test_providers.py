"""Execution providers and model formats: clear start-up errors, and fallback with one warning."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import onnxruntime as ort
import pytest

from loop_detector.deployment import preferred_formats
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.providers import create_session, provider_options, wanted_providers
from loop_detector.settings import DetectorSettings
from loop_shared.settings import ConfigurationError, load_settings
from loop_testkit.onnx_models import grid_package


def settings(tmp_path: Path, **overrides: object) -> DetectorSettings:
    return load_settings(DetectorSettings, organization="o", project="p", data_dir=tmp_path, **overrides)


def test_an_unknown_provider_is_a_start_up_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LOOP_ORT_PROVIDERS: unknown execution provider CudaProvider"):
        settings(tmp_path, ort_providers="CudaProvider,CPUExecutionProvider")


def test_an_unavailable_provider_falls_back_to_the_next_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this machine has no GPU
    configured = settings(tmp_path, ort_providers="CUDAExecutionProvider,TensorrtExecutionProvider")
    model = grid_package(tmp_path / "grid.zip")
    zipfile.ZipFile(model).extract("model.onnx", tmp_path)
    with caplog.at_level(logging.WARNING, "detector.providers"):
        session = create_session(tmp_path / "model.onnx", ort.SessionOptions(), configured)
    assert session.get_providers() == ["CPUExecutionProvider"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "CUDAExecutionProvider, TensorrtExecutionProvider" in warnings[0]


def test_by_default_only_local_providers_best_first(tmp_path: Path) -> None:
    names = [name for name, _ in wanted_providers(settings(tmp_path))]
    assert names[-1] == "CPUExecutionProvider" and "AzureExecutionProvider" not in names


def test_provider_options_come_from_the_settings(tmp_path: Path) -> None:
    configured = settings(tmp_path, ort_device_id=1, trt_fp16=True, openvino_device="GPU")
    trt = provider_options("TensorrtExecutionProvider", configured)
    assert trt["device_id"] == 1 and trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt_engines") and (tmp_path / "trt_engines").is_dir()
    assert provider_options("CUDAExecutionProvider", configured) == {"device_id": 1}
    assert provider_options("OpenVINOExecutionProvider", configured) == {"device_type": "GPU"}


def test_model_formats_must_be_ones_the_logic_runs(tmp_path: Path) -> None:
    assert preferred_formats(settings(tmp_path), OnnxDetectorLogic) == ["onnx"]
    chosen = settings(tmp_path, model_formats="onnx_int8, onnx_fp16,onnx")
    assert preferred_formats(chosen, OnnxDetectorLogic) == ["onnx_int8", "onnx_fp16", "onnx"]
    with pytest.raises(ConfigurationError, match="LOOP_MODEL_FORMATS: OnnxDetectorLogic runs onnx, onnx_int8, "
                                                 "onnx_fp16, not tensorrt"):
        preferred_formats(settings(tmp_path, model_formats="tensorrt,onnx"), OnnxDetectorLogic)
    with pytest.raises(ConfigurationError, match="LOOP_MODEL_FORMATS"):
        settings(tmp_path, model_formats="../x")
