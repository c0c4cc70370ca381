"""Oversized and garbage input against a detector process: each request within the limits is answered with a
result or a clear 4xx, the process stays up, and its peak resident memory per request stays under a bound.

Peak memory is the detector process's VmHWM, reset before every request (Linux `clear_refs`), so each figure
is what that one request cost on top of the idle process.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from bench.common import stub_loop, table

from .report import Finding, reset_peak, vm_peak_mb
from .stack import deploy_grid_model, node_env, nodes

GOAL_MB = 600


def large_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like JPEG (smooth shapes plus grain) of the given size, a few bytes per pixel at most."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(2, height // 200), max(2, width // 200), 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = cv2.add(image, rng.integers(0, 12, (height, width, 3), dtype=np.uint8))
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def chunked_upload(url: str, total: int) -> tuple[int | None, int]:
    """POST a chunked multipart body of `total` bytes to /upload on a raw socket; returns (status, bytes sent)
    when the server answered or closed the connection."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sent = 0
    head = (f"POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n").encode()
    sock.sendall(head)
    chunk = b"x" * (1024 * 1024)
    part_head = b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'
    sock.sendall(f"{len(part_head):x}\r\n".encode() + part_head + b"\r\n")
    sock.settimeout(0.0)
    status = None
    try:
        while sent < total:
            try:
                reply = sock.recv(4096)
                if reply:
                    status = int(reply.split(b" ", 2)[1])
                    break
            except BlockingIOError:
                pass
            sock.settimeout(30)
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.settimeout(0.0)
            sent += len(chunk)
        if status is None:
            sock.settimeout(30)
            sock.sendall(b"0\r\n\r\n")
            status = int(sock.recv(4096).split(b" ", 2)[1])
    except OSError:
        pass
    finally:
        sock.close()
    return status, sent


def run(work: Path, quick: bool = False) -> Finding:
    finding = Finding("Detector memory per request, and garbage input",
                      f"every request within the limits answered (result or 4xx), the detector still up, and its "
                      f"peak resident memory under {GOAL_MB} MB for any single request")
    side = 3000 if quick else 6000  # 9 or 36 megapixels
    big = large_jpeg(side, side)
    with stub_loop(work) as (stub, loop), nodes(work) as started:
        deploy_grid_model(loop, work, "memory")
        detector = started.start("loop-detector", node_env(stub, work / "detector", "memory",
                                                             LOOP_LOG_LEVEL="INFO"), "/ready")
        url, pid = detector.url, detector.proc.pid  # type: ignore[union-attr]
        batch_count = max(1, (64 * 2**20 - 2**20) // len(big))
        cases: list[tuple[str, Callable[[], int | None]]] = [
            (f"/detect, one {side}x{side} JPEG ({len(big) / 2**20:.1f} MiB)",
             lambda: httpx.post(f"{url}/detect", files={"file": ("a.jpg", big)}, timeout=120).status_code),
            (f"/detect/batch, {batch_count} such JPEGs (the 64 MiB request limit)",
             lambda: httpx.post(f"{url}/detect/batch", files=[("files", ("a.jpg", big))] * batch_count,
                                timeout=300).status_code),
            ("/detect/batch, 256 small JPEGs",
             lambda: httpx.post(f"{url}/detect/batch", files=[("files", ("s.jpg", large_jpeg(320, 240)))] * 256,
                                timeout=300).status_code),
            (f"/upload, {batch_count} large JPEGs",
             lambda: httpx.post(f"{url}/upload", files=[("files", ("a.jpg", big))] * batch_count,
                                timeout=300).status_code),
            ("/upload, 100 MiB body announced by Content-Length",
             lambda: httpx.post(f"{url}/upload", files=[("files", ("a.jpg", b"\xff" * 100 * 2**20))],
                                timeout=120).status_code),
            ("/upload, 100 MiB chunked body", lambda: chunked_upload(url, 100 * 2**20)[0]),
            ("/detect, a JPEG header claiming 60000x60000", lambda: httpx.post(
                f"{url}/detect", files={"file": ("a.jpg", big[:200].replace(side.to_bytes(2, "big"), b"\xea\x60"))},
                timeout=60).status_code),
            ("/detect, 1 MiB of random bytes", lambda: httpx.post(
                f"{url}/detect", files={"file": ("a.jpg", np.random.default_rng(1).bytes(2**20))}).status_code),
        ]
        rows = []
        idle = vm_peak_mb(pid)
        for name, send in cases:
            reset_peak(pid)
            started_at = time.monotonic()
            try:
                status = send()
            except httpx.HTTPError as e:
                status = None
                finding.problems.append(f"{name}: {type(e).__name__}: {e}")
            peak = vm_peak_mb(pid)
            alive = httpx.get(f"{url}/health", timeout=10).status_code == 200
            rows.append([name, status, f"{peak:.0f}", f"{time.monotonic() - started_at:.1f}", "yes" if alive else "NO"])
            finding.check(status is not None and status < 500, f"{name}: answered {status}")
            finding.check(peak < GOAL_MB, f"{name}: peak RSS {peak:.0f} MB")
            finding.check(alive, f"{name}: the detector died")
            finding.figures[name] = {"status": status, "peak_mb": round(peak, 1)}
        finding.lines += [f"Detector idle peak before the run: {idle:.0f} MB.", "",
                          table(["request", "answer", "peak RSS (MB)", "seconds", "alive after"], rows)]
    return finding
