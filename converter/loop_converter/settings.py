"""Converter configuration: the shared `LOOP_*` options plus the converter's own."""

from __future__ import annotations

from pydantic import Field, field_validator

from loop_shared.settings import NodeSettings

from .partition import replica_number


class ConverterSettings(NodeSettings):
    node_port: int = Field(8006, ge=1, le=65535, description="Port of the converter's status API.")
    converter_logic: str = Field("loop_converter.onnx_converters:OnnxInt8Converter",
                                 description="Import path of the ConverterLogic plugin class.")
    poll_interval: float = Field(10.0, gt=0, description="Seconds between scans for models to convert.")
    retry_base: float = Field(30.0, gt=0, description="First wait before retrying a failed model (s).")
    retry_cap: float = Field(3600.0, gt=0, description="Longest wait before retrying a failed model (s).")
    max_accuracy_drop: float = Field(0.02, ge=0, le=1, description="Largest accuracy drop (1 - mAP@0.5 of the "
                                     "converted model against the source model's detections) a conversion may "
                                     "have to be published.")
    max_mask_accuracy_drop: float = Field(0.02, ge=0, le=1, description="Segmentation models: largest mask "
                                          "accuracy drop (1 - mask mAP@0.5 of the converted model against the "
                                          "source model's masks) a conversion may have to be published.")
    min_top1_agreement: float = Field(0.98, ge=0, le=1, description="Classifiers: smallest share of images whose "
                                      "best class the converted model keeps for a conversion to be published.")
    max_probability_difference: float = Field(0.03, ge=0, le=1, description="Classifiers: largest mean absolute "
                                              "difference of the class probabilities between the source and the "
                                              "converted model for a conversion to be published.")
    accuracy_images: int = Field(32, ge=0, le=1000, description="Images of the project the accuracy check runs "
                                 "both models on: its test images when it has some, topped up with annotated images "
                                 "the calibration did not use.")
    replicas: int = Field(1, ge=1, le=1000, description="How many converter replicas share the work (each model "
                          "is converted by one of them).")
    replica_index: str = Field("0", description="This replica's number: a number (Swarm's {{.Task.Slot}}, a "
                               "StatefulSet ordinal) or a name ending in one (a StatefulSet pod name).")
    takeover_after: float = Field(600.0, gt=0, description="Seconds after which a model of another replica that "
                                  "is still unconverted is taken over (that replica is gone).")

    @field_validator("replica_index")
    @classmethod
    def _replica_number(cls, value: str) -> str:
        replica_number(value)
        return value
