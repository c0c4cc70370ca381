from __future__ import annotations

import pytest

from loop_detector.logic import DetectorLogic
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_shared.errors import PluginImportError, PluginTypeError
from loop_shared.plugins import load_plugin_class


def test_loads_a_valid_plugin() -> None:
    cls = load_plugin_class("loop_detector.onnx_logic:OnnxDetectorLogic", DetectorLogic, "LOOP_DETECTOR_LOGIC")
    assert cls is OnnxDetectorLogic


@pytest.mark.parametrize("path", ["no_such_module:Logic", "loop_detector.onnx_logic:Missing", "nocolon"])
def test_cannot_import(path: str) -> None:
    with pytest.raises(PluginImportError, match="LOOP_DETECTOR_LOGIC"):
        load_plugin_class(path, DetectorLogic, "LOOP_DETECTOR_LOGIC")


def test_wrong_class_and_abstract_class_are_type_errors() -> None:
    with pytest.raises(PluginTypeError, match="does not implement DetectorLogic"):
        load_plugin_class("pathlib:Path", DetectorLogic, "LOOP_DETECTOR_LOGIC")
    with pytest.raises(PluginTypeError, match="abstract methods left"):
        load_plugin_class("loop_detector.logic:DetectorLogic", DetectorLogic, "LOOP_DETECTOR_LOGIC")
