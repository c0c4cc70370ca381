"""Reading image files from multipart requests, fast, with clear errors for everything else.

The common case (a few file parts, as curl and every HTTP library send them) is split on the boundary with
byte operations, which costs microseconds; anything unusual falls back to Starlette's full parser.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.types import Message, Receive

from ..errors import InputError

_BOUNDARY = re.compile(r'boundary="?([^";,]+)"?', re.IGNORECASE)
_NAME = re.compile(rb'[; ]name="([^"]*)"', re.IGNORECASE)
MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries on top of the images themselves


class _Unusual(Exception):
    """The body is valid multipart we do not split by hand (e.g. nested or oddly framed parts)."""


def multipart_body(field: str, many: bool) -> dict[str, Any]:
    """OpenAPI description of a multipart body with image file(s) in `field`."""
    schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        schema = {"type": "array", "items": schema, "minItems": 1}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [field], "properties": {field: schema}}}}}}


def split_files(body: bytes, boundary: bytes, field: str) -> list[bytes]:
    """The contents of the file parts named `field`, in order; each file is copied out of the body once."""
    delimiter, wanted = b"--" + boundary, field.encode()
    files: list[bytes] = []
    start = body.find(delimiter)
    if start < 0:
        raise _Unusual
    while True:
        start += len(delimiter)
        if body.startswith(b"--", start):  # the closing delimiter
            return files
        end = body.find(delimiter, start)
        if end < 0 or not body.startswith(b"\r\n", start) or not body.startswith(b"\r\n", end - 2):
            raise _Unusual
        head_end = body.find(b"\r\n\r\n", start + 2, end - 2)
        if head_end < 0:
            raise _Unusual
        head = body[start + 2:head_end]
        disposition = next((line for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-disposition:")), None)
        if disposition is None or b"content-transfer-encoding" in head.lower():
            raise _Unusual
        name = _NAME.search(disposition)
        if name and name.group(1) == wanted and b"filename" in disposition.lower():
            files.append(body[head_end + 4:end - 2])
        start = end


async def read_files(request: Request, field: str, max_files: int, max_bytes: int,
                     max_total: int | None = None) -> list[bytes]:
    """The files of multipart field `field`; 413/415/422 with a clear message for everything we cannot use.

    The body may hold at most `max_files` files of `max_bytes` each and `max_total` bytes in all; a bigger body is
    refused from its Content-Length, or while it streams, before it is read to the end.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InputError(f"send the image as multipart/form-data field '{field}' (curl -F {field}=@image.jpg); "
                         f"got content type {content_type or 'none'!r}", 415)
    limit = min(max_files * max_bytes, max_total or max_files * max_bytes) + MULTIPART_OVERHEAD
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise InputError(f"the request has {length} bytes, more than the limit of {limit}", 413)
    body = await _read_body(request, limit)
    boundary = _BOUNDARY.search(content_type)
    try:
        if boundary is None:
            raise _Unusual
        files = split_files(body, boundary.group(1).encode(), field)
    except _Unusual:
        files = await _parse_fully(Request(request.scope, _replay(body)), field, max_files)
    if not files:
        raise InputError(f"no file in multipart field '{field}'", 422)
    if len(files) > max_files:
        raise InputError(f"at most {max_files} files per request, got {len(files)}", 413)
    return files


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it grows past `limit` (a chunked upload has no Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(f"the request has more than the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """An ASGI receive that hands out an already read body again, for the full parser."""
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _parse_fully(request: Request, field: str, max_files: int) -> list[bytes]:
    try:
        form = await request.form(max_files=max_files)
    except Exception as e:  # python-multipart raises several types for malformed bodies
        raise InputError(f"malformed multipart body: {e}", 400) from e
    return [await p.read() for p in form.getlist(field) if isinstance(p, UploadFile)]
