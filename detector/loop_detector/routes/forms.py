"""Reading image files from multipart requests, with clear errors for everything else."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from ..errors import InputError


def multipart_body(field: str, many: bool) -> dict[str, Any]:
    """OpenAPI description of a multipart body with image file(s) in `field`."""
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        schema = {"type": "array", "items": schema}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [field], "properties": {field: schema}}}}}}


async def read_files(request: Request, field: str, max_files: int = 1000) -> list[bytes]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InputError(f"send the image as multipart/form-data field '{field}' (curl -F {field}=@image.jpg); "
                         f"got content type {content_type or 'none'!r}", 415)
    try:
        form = await request.form(max_files=max_files)
    except Exception as e:  # python-multipart raises several types for malformed bodies
        raise InputError(f"malformed multipart body: {e}", 400) from e
    parts = [p for p in form.getlist(field) if isinstance(p, UploadFile)]
    if not parts:
        raise InputError(f"no file in multipart field '{field}'", 422)
    return [await p.read() for p in parts]
