"""Annotator configuration: the shared `LOOP_*` options plus the annotator's own."""

from __future__ import annotations

from pydantic import Field

from loop_shared.settings import NodeSettings


class AnnotatorSettings(NodeSettings):
    node_port: int = Field(8007, ge=1, le=65535, description="Port of the annotator's status API.")
    annotator_logic: str = Field("loop_annotator.tool.logic:GrabCutTool",
                                 description="Import path of the AnnotatorLogic plugin class (module:Class).")
    status_interval: float = Field(5.0, gt=0, description="Seconds between update_annotation_node reports to the "
                                   "Loop.")
    max_histories: int = Field(200, ge=1, le=100_000, description="People whose unfinished annotation is kept at "
                               "once; the one idle longest is dropped first.")
    history_memory_mb: float = Field(64.0, gt=0, description="Memory all kept histories may hold together (MB); "
                                     "the one idle longest is dropped first.")
    history_ttl: float = Field(1800.0, gt=0, description="Seconds after which an untouched history is dropped.")
    image_memory_mb: float = Field(256.0, gt=0, description="Memory for decoded images kept for the next event "
                                   "(MB); at least the image in use is always kept.")
    image_disk_files: int = Field(2000, ge=1, description="Downloaded images kept on disk (below LOOP_DATA_DIR); "
                                  "the oldest are deleted first.")
