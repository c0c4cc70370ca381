"""Read the stub Loop's receive counters (`GET /api/stats/received`): what arrived on the wire, repeats included."""

from __future__ import annotations

from typing import Any

import httpx


def received(stub_url: str, **filters: str) -> dict[str, Any]:
    response = httpx.get(f"{stub_url}/api/stats/received", params=filters, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def image_arrivals(stub_url: str, org: str, project: str) -> dict[str, int]:
    """identifier -> how many times an image of that identifier (and content) arrived."""
    counts: dict[str, int] = {}
    for image in received(stub_url, organization=org, project=project)["images"]:
        key = f"{image['identifier']}#{image['sha256']}"
        counts[key] = counts.get(key, 0) + image["count"]
    return counts


def model_format_arrivals(stub_url: str, org: str, project: str) -> dict[tuple[str, str], int]:
    """(model id, format) -> how many times an upload of that model format arrived."""
    return {(m["model_id"], m["format"]): m["count"]
            for m in received(stub_url, organization=org, project=project)["models"]}


def detection_arrivals(stub_url: str, org: str, project: str) -> dict[str, int]:
    """image id -> how many times detections for that image arrived."""
    return {d["image_id"]: d["count"] for d in received(stub_url, organization=org, project=project)["detections"]}
