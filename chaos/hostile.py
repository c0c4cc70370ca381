"""A hostile Loop: names that point outside the data directory, answers of the wrong shape, hostile model archives,
a Loop that hangs. The detector must keep serving its model, never touch anything outside `LOOP_DATA_DIR`, and say
what was wrong; the trainer and converter cases are the process tests of tests/e2e/test_hostile_loop.py, run here
in full.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bench.common import table
from loop_testkit.hostile_loop import HostileLoop
from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import free_port

from .report import Finding
from .stack import nodes

ORG, PROJECT = "zauberzeug", "hostile"
API = f"/api/{ORG}/projects/{PROJECT}"
ROOT = Path(__file__).resolve().parents[1]


def zip_of(entries: dict[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def hostile_packages(good: bytes, work: Path) -> dict[str, bytes]:
    model_json = b'{"id": "m-2", "organization": "zauberzeug", "project": "hostile", "version": "2.0", ' \
                 b'"categories": [{"id": "c", "name": "c"}], "resolution": 64}'
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        onnx = archive.read("model.onnx")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.json", model_json)
        archive.writestr("model.onnx", b"\0" * (2**31 + 2**20))  # unpacks to more than the 2 GiB limit
    return {"zip-slip": zip_of({"model.json": model_json, "../../escaped.onnx": onnx}),
            "absolute path": zip_of({"model.json": model_json, "/tmp/escaped.onnx": onnx}),
            "symbolic link": zip_of({"model.json": model_json, "model.onnx": onnx}, link="evil.onnx"),
            "20,000 entries": zip_of({"model.json": model_json, **{f"f{i}": b"" for i in range(20_000)}}),
            "2 GiB bomb": bomb.getvalue(),
            "not a zip": b"PK\x03\x04 this is not a zip",
            "no model.json": zip_of({"model.onnx": onnx}),
            "broken model.json": zip_of({"model.json": b"{'id':", "model.onnx": onnx}),
            "ONNX that will not load": zip_of({"model.json": model_json, "model.onnx": b"\x08\x01garbage"}),
            "outputs that fit no layout": zip_of({"model.onnx": onnx, "model.json": model_json.replace(
                b'[{"id": "c", "name": "c"}]', b"[" + b", ".join(b'{"id": "c%d", "name": "c%d"}' % (i, i)
                                                                for i in range(9)) + b"]")})}


def _answer_target(loop: HostileLoop, body: object) -> None:
    """The hostile Loop answers the deployment target with `body`."""
    loop.json(f"GET {API}/deployment/target", body)


def detector_cases(work: Path, finding: Finding) -> None:
    good = grid_package(work / "good.zip", extra={"id": "m-1", "organization": ORG, "project": PROJECT,
                                                  "version": "1.0"}).read_bytes()
    answers: list[tuple[str, Callable[[HostileLoop], None]]] = []
    for name, data in hostile_packages(good, work).items():
        def serve(loop: HostileLoop, data: bytes = data) -> None:
            loop.json(f"GET {API}/deployment/target", {"model_uuid": "m-2", "version": "2.0"})
            loop.routes[f"GET {API}/models/m-2/onnx/file"] = Response(data, media_type="application/zip")
        answers.append((f"model archive: {name}", serve))
    for name, body in (("target is a list", [1, 2]), ("target is a string", "1.0"),
                       ("target fields are numbers", {"model_uuid": 5, "version": 2.0}),
                       ("target of 1 MB", {"model_uuid": "a" * 2**20, "version": "1.0"})):
        answers.append((name, partial(_answer_target, body=body)))
    answers.append(("target answered with HTML", lambda loop: loop.routes.update(
        {f"GET {API}/deployment/target": Response("<html>gateway</html>", media_type="text/html")})))

    async def hang(request: Request, body: bytes) -> Response:
        await asyncio.sleep(40)
        return JSONResponse({})
    answers.append(("the Loop hangs (no answer for 40 s)", lambda loop: loop.routes.update(
        {f"GET {API}/deployment/target": hang})))
    rows: list[list[str]] = []
    for name, script in answers:
        with HostileLoop() as loop, nodes(work) as started:
            loop.json(f"GET {API}/deployment/target", {"model_uuid": "m-1", "version": "1.0"})
            loop.routes[f"GET {API}/models/m-1/onnx/file"] = Response(good, media_type="application/zip")
            loop.json(f"POST {API}/detectors", {"status": "OK"})
            data_dir = work / f"case-{len(rows)}"
            env = {"LOOP_HOST": loop.host, "LOOP_ORGANIZATION": ORG, "LOOP_PROJECT": PROJECT,
                   "LOOP_DATA_DIR": str(data_dir / "data"), "LOOP_NODE_PORT": str(free_port()),
                   "LOOP_POLL_INTERVAL": "0.5", "LOOP_STATUS_INTERVAL": "1", "LOOP_REQUEST_TIMEOUT": "5"}
            detector = started.start("loop-detector", env, "/ready")
            script(loop)
            time.sleep(6)
            ready = httpx.get(f"{detector.url}/ready", timeout=10).json()
            serving = ready.get("model_version") == "1.0"
            outside = sorted(p.name for p in data_dir.iterdir() if p.name != "data")
            reports = [s.body for s in loop.requests(f"POST {API}/detectors")]
            explained = bool(reports) and b'"errors":{}' not in reports[-1].replace(b" ", b"")
            rows.append([name, "yes" if serving else "NO", "none" if not outside else ", ".join(outside),
                         "yes" if explained else "no"])
            finding.check(serving, f"{name}: the detector stopped serving model 1.0 ({ready})")
            finding.check(not outside, f"{name}: files appeared outside the data dir: {outside}")
    finding.lines += [table(["hostile Loop answer", "still serving 1.0", "written outside LOOP_DATA_DIR",
                             "error in its status to the Loop"], rows), ""]


def run(work: Path) -> Finding:
    finding = Finding("A hostile Loop", "the detector keeps serving through every hostile answer and archive; no node "
                      "writes or deletes outside its data directory; each refusal is explained")
    detector_cases(work, finding)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/e2e/test_hostile_loop.py", "tests/e2e/test_secrets.py"],
                            cwd=ROOT, capture_output=True, text=True)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-300:]
    finding.check(result.returncode == 0, f"hostile-Loop and password process tests: {summary}")
    finding.lines.append(f"Process tests of every Loop-supplied name per node, and of the password after provoked "
                         f"failures (tests/e2e/test_hostile_loop.py, tests/e2e/test_secrets.py): {summary}.")
    return finding
