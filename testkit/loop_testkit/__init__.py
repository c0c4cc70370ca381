"""The test kit: what tests, `bench/`, `chaos/` and the stub Loop's generator share.

- processes.py: start console commands (nodes, the stub Loop) as real processes on free ports; wait_until
- hostile_loop.py: a scriptable Loop that answers what a test tells it and records every request
- received_counts.py: the stub Loop's receive counters (what arrived on the wire, repeats included)
- wire_recorder.py: a forwarder in front of a Loop that keeps every request and WebSocket message a client sends
- prometheus.py: one sample out of a node's /metrics text
- scene_categories.py, scenes.py, hard_scenes.py: synthetic scenes with exact annotations
- scene_matching.py: a detector's answer matched against a scene's annotations
- onnx_models.py: ONNX detectors built locally (the grid detector, a YOLOv8n-like one) and their model packages
- onnx_segmenter.py, onnx_classifier.py: an instance segmenter and an image classifier in the common export layouts
"""
