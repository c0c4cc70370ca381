"""The converter's answers, one pydantic model each, so `/docs` shows them.

`/health` and `/ready` answer `loop_shared.node_routes`' models. A conversion record holds what the worker
wrote (`records.py`); besides `status` and `version` its keys depend on the outcome, so the records allow them
and pass them on as they are.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConversionRecord(BaseModel):
    """What the converter knows of one model and target format: converted (`at`, `accuracy`) or failed
    (`reason`, `attempts`, `next_attempt`, `accuracy`)."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="`converted` or `failed` (waiting for a retry).")
    version: str


class Replica(BaseModel):
    index: int = Field(description="This replica's number (0-based).")
    replicas: int = Field(description="How many replicas share the work.")


class ConverterStatus(BaseModel):
    """`GET /status`: formats, last scan, counts, and every failed model with its reason and next attempt."""

    source_format: str
    target_format: str
    last_scan: float | None = Field(description="When the last complete scan ended (Unix time).")
    last_error: str | None = Field(description="Why the last scan failed, while it does.")
    converted: int
    skipped: int = Field(description="Conversions given up because another replica was faster.")
    replica: Replica
    failures: dict[str, ConversionRecord] = Field(description="Failed models by `org/project/model_id/target`.")


class Conversion(BaseModel):
    """One model and target format, then its record (`ConversionRecord`: the keys depend on the outcome)."""

    model_config = ConfigDict(extra="allow")

    organization: str
    project: str
    model_id: str
    target: str
    status: str = Field(description="`converted` or `failed` (waiting for a retry).")
    version: str


class Conversions(BaseModel):
    """`GET /conversions`: what the page at `/` shows, newest first."""

    conversions: list[Conversion]
