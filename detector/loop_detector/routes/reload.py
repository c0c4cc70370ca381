"""`POST /reload`: build the served model again from its files (Socket.IO `soft_reload` does the same)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deployment import Deployment
from ..deps import DeploymentDep
from ..schemas import ErrorAnswer, ReloadAnswer

router = APIRouter(tags=["control"])
ERRORS: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorAnswer, "description": "The files did not load; the model loaded before keeps serving"},
    503: {"model": ErrorAnswer, "description": "No model is loaded yet: nothing to reload"},
}


async def reload_answer(deployment: Deployment) -> ReloadAnswer:
    """Reload, and say what serves now (REST and Socket.IO alike)."""
    model = await deployment.reload()
    return ReloadAnswer(model_version=model.info.version, model_format=model.format)


@router.post("/reload", responses=ERRORS)
async def reload(deployment: DeploymentDep) -> ReloadAnswer:
    """Build the served model again from its folder as it is on disk now (model.json and weights), with a new
    instance of the detector logic, as after a deployment: it is loaded and warmed up while the current one keeps
    answering, then swapped in. Answers once the new one serves; a deployment in progress finishes first."""
    return await reload_answer(deployment)
