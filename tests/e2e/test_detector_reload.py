"""soft_reload (Socket.IO) and POST /reload: the served model is built again from its files on disk, with a new
logic, while the loaded one keeps answering; the detector and the stub Loop as separate processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import socketio

from loop_testkit.onnx_models import grid_categories
from loop_testkit.processes import Service, wait_until
from tests.e2e.test_detector_process import ROOT, jpeg_of, scene, start_detector

SIO = "/ws/socket.io"


def rewrite_model_files(detector_data: Path, names: tuple[str, ...]) -> None:
    """Overwrite the served model's files on disk: its model.json names the grid detector's classes `names`."""
    [folder] = (detector_data / "models").glob("1.0__*__onnx")
    model_json = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**model_json, "categories": grid_categories(names)}))


def top_left(answer: dict[str, Any]) -> str | None:
    """The category the model names for the red block in the scene's top-left cell."""
    return next((b["category_name"] for b in answer["box_detections"] if (b["x"], b["y"]) == (0, 0)), None)


class Hammer:
    """Detections without pause over REST and over Socket.IO (raw images), each answer's top-left category kept."""

    def __init__(self, url: str) -> None:
        self.url, self.stop = url, threading.Event()
        self.names: list[str | None] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._rest), threading.Thread(target=self._sio)]

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _rest(self) -> None:
        body = jpeg_of(scene())
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(f"{self.url}/detect", files={"file": body}, headers={"autoupload": "disabled"})
                except httpx.HTTPError as e:  # a dropped connection is a failed request too
                    self.failures.append(f"REST {type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"REST {r.status_code} {r.text}")
                else:
                    self.names.append(top_left(r.json()))

    def _sio(self) -> None:
        image = scene()
        raw = {"format": "raw", "bytes": image.tobytes(), "dtype": "uint8", "shape": list(image.shape)}
        client = socketio.SimpleClient()
        client.connect(self.url, socketio_path=SIO)
        try:
            while not self.stop.is_set():
                try:
                    answer = client.call("detect", {"image": raw, "autoupload": "disabled"}, timeout=30)
                except socketio.exceptions.SocketIOError as e:  # no answer (timeout, disconnect) is a failure too
                    self.failures.append(f"Socket.IO {type(e).__name__}: {e}")
                    return
                if "error" in answer:
                    self.failures.append(f"Socket.IO {answer['error']}")
                else:
                    self.names.append(top_left(answer))
        finally:
            client.disconnect()


def test_soft_reload_builds_the_model_again_from_its_files_while_the_loaded_one_answers(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    gate = tmp_path / "let the reload finish"
    detector = start_detector(stub, loop, start_node, tmp_path, RELOAD_GATE=str(gate), PYTHONPATH=str(ROOT),
                              LOOP_DETECTOR_LOGIC="tests.e2e.plugins:GatedReloadDetector")
    rewrite_model_files(tmp_path / "detector", ("blue", "green", "red"))  # red is called "blue" now
    answers: list[dict[str, Any]] = []

    def soft_reload() -> None:
        client = socketio.SimpleClient()
        client.connect(detector.url, socketio_path=SIO)
        try:
            answers.append(client.call("soft_reload", timeout=90))
        finally:
            client.disconnect()

    with Hammer(detector.url) as hammer:
        wait_until(lambda: len(hammer.names) > 10, what="detections before the reload")
        reloading = threading.Thread(target=soft_reload)
        reloading.start()
        wait_until(lambda: httpx.get(f"{detector.url}/about").json()["building"] is not None,
                   what="the reload under way in /about")
        answered = len(hammer.names)
        wait_until(lambda: len(hammer.names) > answered + 20, what="detections while the reload waits")
        assert answers == [] and httpx.get(f"{detector.url}/about").json()["building"]["version"] == "1.0"
        assert set(hammer.names) == {"red"}  # the loaded model answered all along
        gate.touch()
        reloading.join(timeout=90)
        assert answers == [{"status": "OK", "model_version": "1.0", "model_format": "onnx"}]
        served = len(hammer.names)
        wait_until(lambda: len(hammer.names) > served + 10, what="detections after the reload")
    assert hammer.failures == []
    assert set(hammer.names[served + 2:]) == {"blue"}  # all but the (at most 2) requests in flight at the answer
    assert httpx.get(f"{detector.url}/about").json()["building"] is None

    # POST /reload does the same for REST users
    rewrite_model_files(tmp_path / "detector", ("green", "red", "blue"))
    reloaded = httpx.post(f"{detector.url}/reload", timeout=90)
    assert reloaded.status_code == 200
    assert reloaded.json() == {"status": "OK", "model_version": "1.0", "model_format": "onnx"}
    assert top_left(httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}).json()) == "green"
    assert "Traceback" not in detector.log()


def test_a_reload_of_files_that_do_not_load_answers_an_error_and_the_loaded_model_serves_on(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    detector = start_detector(stub, loop, start_node, tmp_path)
    [folder] = (tmp_path / "detector" / "models").glob("1.0__*__onnx")
    (folder / "model.onnx").write_bytes(b"not onnx any more")
    refused = httpx.post(f"{detector.url}/reload", timeout=90)
    assert refused.status_code == 500
    assert refused.json()["detail"].startswith("reloading model 1.0 from its files failed: ")
    assert refused.json()["detail"].endswith("; the model loaded before keeps serving")
    client = socketio.SimpleClient()
    client.connect(detector.url, socketio_path=SIO)
    try:
        answer = client.call("soft_reload", timeout=90)
    finally:
        client.disconnect()
    assert answer == {"error": refused.json()["detail"]}
    detected = httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())})
    assert detected.status_code == 200 and top_left(detected.json()) == "red"
    assert (folder / "model.onnx").read_bytes() == b"not onnx any more"  # left in place, for a person to mend
    schema = httpx.get(f"{detector.url}/openapi.json").json()["paths"]["/reload"]["post"]
    assert set(schema["responses"]) == {"200", "500", "503"}
