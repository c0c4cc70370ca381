"""The converter plugin: what a user implements to add a model format (e.g. TensorRT on a GPU machine).

Choose an implementation with `LOOP_CONVERTER_LOGIC=my_package.module:MyConverter`. The converter downloads
every model that exists in `source_format` but not in `target_format`, unpacks it, calls `convert` in a worker
thread, and uploads what `convert` wrote, with the source's model.json plus what `convert` returned.

Example::

    class TensorRtConverter(ConverterLogic):
        source_format = "onnx"
        target_format = "tensorrt"

        def convert(self, source_dir, model_info, target_dir, calibration):
            build_engine(source_dir / "model.onnx", target_dir / "model.engine")
            return {"tensorrt_version": trt.__version__}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class ConverterLogic(ABC):
    """Base class of converter plugins: name the two formats and implement `convert`."""

    source_format: ClassVar[str]
    target_format: ClassVar[str]
    calibration_images: ClassVar[int] = 0
    """How many of the project's images the conversion wants (e.g. to calibrate a quantization)."""
    accuracy_gate: ClassVar[bool] = False
    """Whether `measure_accuracy` checks each conversion before it is published (for lossy formats)."""

    @abstractmethod
    def convert(self, source_dir: Path, model_info: dict[str, Any], target_dir: Path,
                calibration: list[Path]) -> dict[str, Any]:
        """Convert the unpacked source package in `source_dir` into files written to the empty `target_dir`.

        `model_info` is the source model.json; `calibration` holds up to `calibration_images` JPEGs of the
        model's project (fewer, or none, when the project has fewer). Return the keys to add to (or change in)
        the target's model.json; `format` is set for you. Runs in a worker thread. Raise any exception to mark
        the model as failed: the reason is recorded and the model retried later with a growing pause.
        """

    def measure_accuracy(self, source_dir: Path, target_dir: Path, model_info: dict[str, Any],
                         images: list[Path]) -> dict[str, Any] | None:
        """The accuracy gate of a class with `accuracy_gate = True`, called after `convert` with images of the
        project that calibration did not use (its test images when it has some). Return figures with
        `accuracy_drop` (0 = the converted model detects exactly what the source does, 1 = nothing alike): the
        conversion is published only when that is within `LOOP_MAX_ACCURACY_DROP` (and, where present,
        `mask_accuracy_drop` within `LOOP_MAX_MASK_ACCURACY_DROP`, `top1_agreement` at least
        `LOOP_MIN_TOP1_AGREEMENT`, `probability_difference_mean` within `LOOP_MAX_PROBABILITY_DIFFERENCE`; a
        classifier's `accuracy_drop` is not checked, its agreement is), and the figures go into its
        model.json as `conversion`. Runs in a worker thread.
        """
        return None
