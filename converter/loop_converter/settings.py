"""Converter configuration: the shared `LOOP_*` options plus the converter's own."""

from __future__ import annotations

from pydantic import Field

from loop_shared.settings import NodeSettings


class ConverterSettings(NodeSettings):
    node_port: int = Field(8006, ge=1, le=65535, description="Port of the converter's status API.")
    converter_logic: str = Field("loop_converter.onnx_converters:OnnxInt8Converter",
                                 description="Import path of the ConverterLogic plugin class.")
    poll_interval: float = Field(10.0, gt=0, description="Seconds between scans for models to convert.")
    retry_base: float = Field(30.0, gt=0, description="First wait before retrying a failed model (s).")
    retry_cap: float = Field(3600.0, gt=0, description="Longest wait before retrying a failed model (s).")
