"""The fast multipart split agrees with what HTTP clients send, and defers to the full parser otherwise."""

from __future__ import annotations

import httpx
import pytest

from loop_detector.routes.forms import _Unusual, split_files


def encoded(files: list[tuple[str, bytes]], data: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    request = httpx.Request("POST", "http://x/", files=[(name, ("f.jpg", content, "image/jpeg"))
                                                        for name, content in files], data=data)
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    return request.read(), boundary


def test_splits_the_file_parts_of_the_field_in_order() -> None:
    payloads = [b"\xff\xd8first\r\n--not-the-boundary", b"second", bytes(range(256)) * 40]
    body, boundary = encoded([("files", p) for p in payloads] + [("other", b"x")], {"note": "hello"})
    assert split_files(body, boundary, "files") == payloads
    assert split_files(body, boundary, "file") == []


def test_unusual_framing_is_left_to_the_full_parser() -> None:
    body, boundary = encoded([("file", b"abc")])
    with pytest.raises(_Unusual):
        split_files(body.replace(b"\r\n\r\n", b"\n\n", 1), boundary, "file")
    with pytest.raises(_Unusual):
        split_files(body[:-10], boundary, "file")


def test_empty_and_edge_parts() -> None:
    body, boundary = encoded([("file", b""), ("file", b"\r\n"), ("file", b"--")])
    assert split_files(body, boundary, "file") == [b"", b"\r\n", b"--"]
    with pytest.raises(_Unusual):
        split_files(b"no delimiter at all", boundary, "file")
    with pytest.raises(_Unusual):
        split_files(body, b"other-boundary", "file")
