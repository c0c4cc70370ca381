"""Plugins that tests hand to node processes through LOOP_*_LOGIC, as users of the base images do."""

from __future__ import annotations

from loop_converter.onnx_converters import OnnxInt8Converter


class FormatAToB(OnnxInt8Converter):
    """The seed README's converter: models in `format_a` become `format_b`."""

    source_format = "format_a"
    target_format = "format_b"
