"""The Loop's answers to the calls in paths.py, as the nodes read them and the stub Loop writes them.

Unknown keys are kept (`extra="allow"`): the Loop sends more than the nodes read, and a trainer passes image data
on to its plugin untouched. Lists of models and projects leave out an item they cannot use rather than failing
whole, so one odd entry never hides the others (names are still checked by `loop_shared.names` where used).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger("loop.api")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


def _usable(items: Any, required: tuple[str, ...], what: str) -> Any:
    """Keep the items that are objects with a string under every `required` key; log how many were left out."""
    if not isinstance(items, list):
        return items
    kept = [i for i in items if isinstance(i, BaseModel)  # built in code (the stub's answers), already checked
            or (isinstance(i, dict) and all(isinstance(i.get(k), str) for k in required))]
    if len(kept) < len(items):
        log.warning("the Loop listed %d %s without %s; left out", len(items) - len(kept), what, " or ".join(required))
    return kept


class DeploymentTarget(_Answer):
    """`GET .../deployment/target`: the model detectors following the Loop should serve."""

    model_uuid: str
    version: str


class LoopModel(_Answer):
    """One model of `GET .../models`; `formats` are those the Loop can serve it in (None: it did not say)."""

    id: str
    version: str
    formats: list[str] | None = None


class ModelList(_Answer):
    models: list[LoopModel] = Field(default_factory=list)

    @field_validator("models", mode="before")
    @classmethod
    def _drop_unusable(cls, value: Any) -> Any:
        return _usable(value, ("id", "version"), "models")

    def find(self, model_id: str) -> LoopModel | None:
        return next((m for m in self.models if m.id == model_id), None)


class LoopProject(_Answer):
    organization_id: str
    project_id: str


class ProjectList(_Answer):
    """`GET /projects`: every project the login may see."""

    projects: list[LoopProject] = Field(default_factory=list)

    @field_validator("projects", mode="before")
    @classmethod
    def _drop_unusable(cls, value: Any) -> Any:
        return _usable(value, ("organization_id", "project_id"), "projects")


class ImageIds(_Answer):
    """`GET .../data?state=...`."""

    image_ids: list[str] = Field(default_factory=list)


class LoopImage(_Answer):
    """One image's data from `GET .../images?ids=...`: annotations, size, `set` (train, val or test) and more."""

    id: str
    set: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Exactly what the Loop sent (no defaults added), for plugins that read the raw image data."""
        return self.model_dump(mode="json", exclude_unset=True)


class ImageList(_Answer):
    images: list[LoopImage] = Field(default_factory=list)

    @field_validator("images", mode="before")
    @classmethod
    def _drop_unusable(cls, value: Any) -> Any:
        return _usable(value, ("id",), "images")


class UploadedModel(_Answer):
    """The answer to a model upload: the id of the model the files now belong to."""

    id: str


class StoredModel(BaseModel):
    """What a model upload achieved: the model's id (None when the Loop did not say), and whether the Loop had that
    format already (409), so nothing new was stored."""

    id: str | None
    already_stored: bool = False
