"""Example converter plugin: ONNX models in ONNX Runtime's own ORT format, for minimal edge builds."""
