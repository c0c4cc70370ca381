"""The Loop password never leaves a node: not in logs, answers, data files, or what the nodes send to the Loop
(recorded at the wire: every request, header, query string and Socket.IO frame; only the login forms carry it),
even after provoked failures, including a training child that dies of an exception quoting its environment."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.wire_recorder import WireRecorder, carries, secret_encodings
from tests.conftest import ORG, USERNAME, node_env

SECRET = "Zq9-distinctive-pw-7731"
PROJECT = "secrets"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stub_env(stub_env: dict[str, str]) -> dict[str, str]:
    return {**stub_env, "LOOP_PASSWORD": SECRET}


@pytest.fixture
def wire(stub: Service) -> Iterator[WireRecorder]:
    """The nodes reach the stub through this recorder: it keeps every request and Socket.IO frame they send."""
    with WireRecorder("127.0.0.1", stub.port) as recorder:
        yield recorder


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_password_appears_nowhere_after_provoked_failures(
        stub: Service, wire: WireRecorder, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop = httpx.Client(base_url=stub.url + "/api", timeout=30)
    assert loop.post("/login", data={"username": USERNAME, "password": SECRET}).status_code == 200
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 8, "box_categories": 1,
                                                  "image_width": 96, "image_height": 64})
    api = f"/{ORG}/projects/{PROJECT}"
    bad = grid_package(tmp_path / "bad.zip")
    bad.write_bytes(bad.read_bytes().replace(b"model.onnx", b"model.bin!"))  # a package without its .onnx
    model = loop.post(f"{api}/onnx", files={"files": ("bad.zip", bad.read_bytes())}).json()
    loop.put(f"{api}/deployment/target", json={"model_uuid": model["id"]})
    env = {"LOOP_PASSWORD": SECRET, "PYTHONPATH": str(ROOT), "LOOP_POLL_INTERVAL": "0.3", "LOOP_STATUS_INTERVAL": "0.5",
           "LOOP_HOST": f"127.0.0.1:{wire.port}"}
    detector = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, **env))
    trainer = start_node("loop-trainer", node_env(stub, tmp_path / "trainer", PROJECT, **env, LOOP_MAX_CRASHES="1",
                                                  LOOP_TRAINER_LOGIC="tests.e2e.plugins:LeakyCrashingTrainer"))
    converter = start_node("loop-converter", node_env(stub, tmp_path / "converter", PROJECT, **env))
    wait_until(lambda: loop.get(f"{api}/detectors").json()["detectors"] and
               loop.get(f"{api}/detectors").json()["detectors"][0]["errors"].get("update_model"), 30,
               "the detector reporting its failed model")
    wait_until(lambda: httpx.get(f"{converter.url}/status").json()["failures"], 60, "a failed conversion")
    wait_until(lambda: any((t["status"] or {}).get("state") == "idle" for t in
                           httpx.get(f"{stub.url}/api/trainers").json()["trainers"]), 30, "an idle trainer")
    assert loop.post(f"{api}/trainings", json={}).status_code == 200
    training = wait_until(lambda: (t := loop.get(f"{api}/trainings/1").json())["state"] == "failed" and t, 60,
                          "the training to fail")
    assert "environment was" in json.dumps(training)  # the child did die of the leaky exception

    answers = [loop.get(path).text for path in (f"{api}/trainings", f"{api}/detectors", "/trainers",
                                                f"{api}/models")]
    answers += [httpx.get(f"{stub.url}{path}").text for path in (f"/ui/{ORG}/{PROJECT}", "/ui/projects", "/metrics")]
    for node in (detector, trainer, converter):
        for path in ("/", "/ready", "/health", "/metrics", "/status", "/about", "/model_version", "/openapi.json",
                     "/operation_mode", "/outbox_mode", "/trainings", "/conversions"):
            answers.append(httpx.get(node.url + path).text)
    answers += [httpx.post(f"{detector.url}/detect", files={"file": ("x.jpg", b"garbage")}).text,
                httpx.post(f"{detector.url}/upload", files={"files": ("x.jpg", b"garbage")}).text,
                httpx.put(f"{detector.url}/model_version", content=b"../../x").text,
                httpx.put(f"{detector.url}/operation_mode", content=b"nonsense").text]
    for node in (detector, trainer, converter, stub):
        node.stop()
    leaks = [a[:200] for a in answers if SECRET in a]
    logs = {s.log_path.name: s.log_path.read_text(errors="replace") for s in (detector, trainer, converter, stub)}
    leaks += [name for name, text in logs.items() if SECRET in text]
    leaks += files_containing(tmp_path, SECRET.encode())
    assert leaks == []
    assert "environment was" in "".join(logs.values())  # the traceback reached the log, without the password
    child_logs = list((tmp_path / "trainer").rglob("training.log"))
    assert all(SECRET not in p.read_text() for p in child_logs)

    # at the wire: the password left the nodes in the login forms' bodies and in nothing else they sent
    sent = wire.messages()
    logins = [m for m in sent if m.kind == "http" and (m.method, m.path) == ("POST", "/api/login")]
    assert len(logins) >= 3, [m.describe() for m in sent]  # every node logged in
    for login in logins:
        assert parse_qs(login.body.decode())["password"] == [SECRET]
        assert not any(needle in login.head for needle in secret_encodings(SECRET))  # not in its URL or headers
    assert [m.describe() for m in sent if m not in logins and carries(m, SECRET)] == []
    # and the recording did hold what the nodes send besides: status reports over HTTP and Socket.IO, the
    # training's failure, the model download
    assert any(m.path == f"/api/{ORG}/projects/{PROJECT}/detectors" for m in sent)
    assert any(m.kind == "websocket" and b"update_trainer" in m.body for m in sent)
    assert any(m.kind == "websocket" and b"environment was" in m.body for m in sent)
    assert any(m.method == "GET" and m.path.endswith("/onnx/file") for m in sent)
