"""The reference trainer: a small one-stage detector in JAX/Flax, trained on CPU, exported to ONNX."""
