"""Example detector plugin: the default ONNX logic, minus boxes that are too small to matter."""
