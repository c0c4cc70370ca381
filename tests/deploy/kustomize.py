"""A pure-Python rendering of deploy/k8s/kustomization.yaml for the tests (no kustomize binary is installable from
PyPI or Debian): resources, namespace, labels (without selectors) and image tags, the features it uses. A test
compares it with `kubectl kustomize` where kubectl is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _set_image(containers: list[dict[str, Any]], images: list[dict[str, str]]) -> None:
    for container in containers:
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"the test renderer does not support {sorted(unknown)}")
    docs = [doc for resource in kustomization["resources"] for doc in load_all(directory / resource)]
    for doc in docs:
        metadata = doc["metadata"]
        if kustomization.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
            metadata["namespace"] = kustomization["namespace"]
        for label in kustomization.get("labels", []):
            if label.get("includeSelectors") or label.get("includeTemplates"):
                raise ValueError("the test renderer adds labels to metadata only")
            metadata.setdefault("labels", {}).update(label["pairs"])
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        _set_image(pod.get("containers", []) + pod.get("initContainers", []), kustomization.get("images", []))
    return docs
