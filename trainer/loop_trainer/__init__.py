"""The trainer node: takes trainings from the Loop, trains in a child process, uploads models and detections."""
