"""One typed API for every Loop REST call the nodes make: paths (paths.py), answers (models.py), calls (api.py).

Nodes call the Loop only through `LoopApi` / `ProjectApi`; the stub Loop declares its routes from the same path
constants and answers with the same models.
"""

from .api import IMAGES_PER_REQUEST, LoopApi, Multipart, ProjectApi
from .models import (
    DeploymentTarget,
    ImageIds,
    ImageList,
    LoopImage,
    LoopModel,
    LoopProject,
    ModelList,
    ProjectList,
    StoredModel,
    UploadedModel,
)

__all__ = [
    "IMAGES_PER_REQUEST",
    "DeploymentTarget",
    "ImageIds",
    "ImageList",
    "LoopApi",
    "LoopImage",
    "LoopModel",
    "LoopProject",
    "ModelList",
    "Multipart",
    "ProjectApi",
    "ProjectList",
    "StoredModel",
    "UploadedModel",
]
