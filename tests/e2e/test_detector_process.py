"""The detector and the stub Loop as separate processes, over real HTTP and Socket.IO."""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import socketio

from chaos.proxy import Proxy
from loop_testkit.onnx_models import grid_categories, grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.prometheus import sample
from loop_testkit.received_counts import image_arrivals
from tests.conftest import ORG, node_env

PROJECT = "detproj"
ROOT = Path(__file__).resolve().parents[2]


def scene() -> np.ndarray:
    image = np.zeros((128, 128, 3), np.uint8)
    image[0:32, 0:32] = (255, 0, 0)     # red, confident
    image[64:96, 32:64] = (0, 0, 115)   # blue at 0.45: uncertain
    return image


def jpeg_of(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()


def upload_model(loop: httpx.Client, tmp_path: Path, name: str, **kwargs: object) -> dict:
    package = grid_package(tmp_path / f"{name}.zip", **kwargs)  # type: ignore[arg-type]
    response = loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": (f"{name}.zip", package.read_bytes())})
    assert response.status_code == 200, response.text
    return response.json()


def deploy(loop: httpx.Client, version: str) -> None:
    assert loop.put(f"/{ORG}/projects/{PROJECT}/deployment/target", json={"version": version}).status_code == 200




def start_detector(stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path,
                   **settings: str) -> Service:
    """A project with model 1.0 deployed, and a detector serving it (ready), with extra LOOP_* settings."""
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0, "box_categories": 0})
    upload_model(loop, tmp_path, "v1")
    deploy(loop, "1.0")
    service = start_node("loop-detector", node_env(stub, tmp_path / "detector", PROJECT, LOOP_POLL_INTERVAL="0.3",
                                                   **settings))
    service.wait_ready(path="/ready")
    return service


def chunked_post(port: int, path: str, total: int) -> tuple[int | None, str, int]:
    """POST a chunked multipart body of up to `total` bytes on a raw socket, watching for an answer between chunks;
    returns (status, answer text, bytes sent before the answer came or the server closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Type: multipart/form-data; boundary=xyz\r\n\r\n".encode())
    chunk, sent, answer = b"--xyz\r\n" + b"x" * 2**20, 0, b""
    try:
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:  # the server answered and closed while we were still sending
                break
            sent += len(chunk)
        answer = sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:  # the body may come in a packet of its own
            more = sock.recv(65536)
            if not more:
                break
            body += more
            answer += more
    except OSError:
        pass
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return status, answer.decode(errors="replace"), sent


@pytest.fixture
def detector(stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> Service:
    return start_detector(stub, loop, start_node, tmp_path, LOOP_STATUS_INTERVAL="1")


def inbox_images(loop: httpx.Client) -> list[dict]:
    ids = loop.get(f"/{ORG}/projects/{PROJECT}/data", params={"state": "inbox"}).json()["image_ids"]
    return loop.get(f"/{ORG}/projects/{PROJECT}/images", params={"ids": ",".join(ids)}).json()["images"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_detect_returns_boxes_in_image_pixels_and_uncertain_images_reach_the_inbox(
        detector: Service, loop: httpx.Client, tmp_path: Path) -> None:
    image_path = tmp_path / "image.jpg"
    image_path.write_bytes(jpeg_of(scene()))
    output = subprocess.run(["curl", "-s", "-F", f"file=@{image_path}", "-H", "camera-id: front", "-H",
                             "tags: t1, t2", "-H", "source: robot-7", f"{detector.url}/detect"],
                            capture_output=True, check=True, timeout=30).stdout
    result = json.loads(output)
    boxes = {(b["category_name"], b["x"], b["y"], b["width"], b["height"]) for b in result["box_detections"]}
    assert boxes == {("red", 0, 0, 32, 32), ("blue", 32, 64, 32, 32)}
    assert result["image_size"] == {"width": 128, "height": 128} and result["model_version"] == "1.0"
    assert result["tags"] == ["t1", "t2", "uncertain"] and result["source"] == "robot-7"
    wait_until(lambda: len(inbox_images(loop)) == 1, what="the uncertain image in the Loop's inbox")
    uploaded = inbox_images(loop)[0]
    assert uploaded["tags"] == ["t1", "t2", "uncertain"] and uploaded["source"] == "robot-7"
    assert {d["category_name"] for d in uploaded["box_detections"]} == {"red", "blue"}
    # the same scene again is not new: nothing more is uploaded; `autoupload: all` uploads anyway
    httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}, headers={"camera_id": "front"})
    httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}, headers={"autoupload": "all"})
    wait_until(lambda: len(inbox_images(loop)) == 2, what="the autoupload=all image")
    time.sleep(0.5)
    assert len(inbox_images(loop)) == 2
    status = loop.get(f"/{ORG}/projects/{PROJECT}/detectors").json()["detectors"][0]
    assert status["current_model"] == "1.0" and status["model_format"] == "onnx" and status["errors"] == {}


def test_socketio_api(detector: Service) -> None:
    image = scene()
    client = socketio.SimpleClient()
    client.connect(detector.url, socketio_path="/ws/socket.io", transports=["websocket"])
    try:
        raw = {"format": "raw", "bytes": image.tobytes(), "dtype": "uint8", "shape": list(image.shape)}
        result = client.call("detect", {"image": raw, "autoupload": "disabled", "tags": ["sio"]})
        assert {(b["category_name"], b["x"], b["y"]) for b in result["box_detections"]} == {("red", 0, 0),
                                                                                           ("blue", 32, 64)}
        assert result["tags"] == ["sio"]
        jpeg = {"format": "jpeg", "bytes": jpeg_of(image)}
        batch = client.call("batch_detect", {"images": [jpeg, raw], "autoupload": "disabled"})
        assert [len(item["box_detections"]) for item in batch["items"]] == [2, 2]
        assert client.call("detect", {"image": {"format": "raw", "bytes": b"123", "shape": [2, 2, 3]}})["error"]
        assert client.call("detect", {"nothing": 1}) == {"error": "could not parse image from data"}
        assert client.call("info")["version"] == "1.0"
        assert client.call("about")["operation_mode"] == "idle"
        assert client.call("get_model_version")["current_version"] == "1.0"
        assert client.call("set_model_version_mode", "not a version") == {"error": "Invalid version number"}
        assert client.call("get_outbox_mode") == {"outbox_mode": "continuous_upload"}
        assert client.call("set_outbox_mode", "nope") == {"error": "'nope' is not a valid OutboxMode"}
        assert client.call("upload", {"image": jpeg, "metadata": {"tags": ["manual"]}}) == {"status": "OK"}
    finally:
        client.disconnect()


def test_bad_input_gets_4xx_and_the_service_keeps_serving(detector: Service) -> None:
    good = jpeg_of(scene())
    huge = cv2.imencode(".png", np.zeros((8000, 6000, 3), np.uint8))[1].tobytes()
    cases = {
        "not an image": httpx.post(f"{detector.url}/detect", files={"file": b"hello world"}),
        "truncated": httpx.post(f"{detector.url}/detect", files={"file": good[: len(good) // 3]}),
        "empty": httpx.post(f"{detector.url}/detect", files={"file": b""}),
        "huge": httpx.post(f"{detector.url}/detect", files={"file": huge}),
        "json body": httpx.post(f"{detector.url}/detect", json={"file": "x"}),
        "no file field": httpx.post(f"{detector.url}/detect", files={"other": good}),
        "bad autoupload": httpx.post(f"{detector.url}/detect", files={"file": good}, headers={"autoupload": "x"}),
        "upload not image": httpx.post(f"{detector.url}/upload", files={"files": b"nope"}),
        "bad mode": httpx.put(f"{detector.url}/operation_mode", content=b"sleeping"),
        "bad version": httpx.put(f"{detector.url}/model_version", content=b"one.two"),
    }
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        assert response.json()["detail"], name
    assert cases["huge"].status_code == 413 and cases["json body"].status_code == 415
    assert httpx.post(f"{detector.url}/detect", files={"file": good}).status_code == 200
    assert "Traceback" not in detector.log()


def test_detect_routes_served_in_front_of_fastapi_behave_like_the_rest_of_the_api(detector: Service) -> None:
    good, other = jpeg_of(scene()), jpeg_of(scene()[::-1])
    batch = httpx.post(f"{detector.url}/detect/batch", files=[("files", good), ("files", other)],
                       headers={"autoupload": "disabled", "tags": "b"})
    assert batch.status_code == 200 and batch.headers["content-type"] == "application/json"
    items = batch.json()["items"]
    assert [{b["y"] for b in item["box_detections"]} for item in items] == [{0, 64}, {96, 32}]
    assert all(item["tags"] == ["b"] for item in items)
    wrong_method = httpx.get(f"{detector.url}/detect")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert "POST" in wrong_method.json()["detail"]
    # a body the byte-level split does not take (a part with Content-Transfer-Encoding) goes to the full parser
    body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            b"Content-Transfer-Encoding: binary\r\n\r\n" + good + b"\r\n--xyz--\r\n")
    unusual = httpx.post(f"{detector.url}/detect", content=body,
                         headers={"content-type": 'multipart/form-data; boundary="xyz"'})
    assert unusual.status_code == 200 and len(unusual.json()["box_detections"]) == 2
    # a chunked body (no Content-Length) is cut off at the limit, not read to the end: the 413 comes while the
    # client is still sending, long before the 512 MiB it would send
    limit = 32 * 2**20 + 64 * 1024  # one image of LOOP_MAX_IMAGE_BYTES plus the multipart allowance
    status, answer, sent = chunked_post(detector.port, "/detect", 512 * 2**20)
    assert status == 413 and "limit" in answer, (status, answer)
    assert sent < limit + 16 * 2**20, f"{sent} bytes sent before the answer"
    status, answer, sent = chunked_post(detector.port, "/upload", 512 * 2**20)  # LOOP_MAX_REQUEST_BYTES: 64 MiB
    assert status == 413 and "limit" in answer, (status, answer)
    assert sent < 64 * 2**20 + 16 * 2**20, f"{sent} bytes sent to /upload before the answer"
    # a client that goes away in the middle of its body is no error of ours
    with socket.create_connection(("127.0.0.1", detector.port)) as sock:
        sock.sendall(b"POST /detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                     b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n--xyz\r\n")
    wait_until(lambda: 'route="/detect",status="disconnected"} 1.0' in httpx.get(f"{detector.url}/metrics").text,
               what="the abandoned request counted")
    schema = httpx.get(f"{detector.url}/openapi.json").json()
    detect = schema["paths"]["/detect"]["post"]
    assert {p["name"] for p in detect["parameters"]} >= {"autoupload", "camera-id", "tags"}
    assert "multipart/form-data" in detect["requestBody"]["content"] and "/upload" in schema["paths"]
    assert "/detect/batch" in schema["paths"]
    metrics = httpx.get(f"{detector.url}/metrics").text
    assert 'loop_detector_requests_total{route="/detect",status="405"} 1.0' in metrics
    assert 'loop_detector_requests_total{route="/detect/batch",status="200"} 1.0' in metrics
    assert "Traceback" not in detector.log()


def test_upload_and_control_routes(detector: Service, loop: httpx.Client) -> None:
    response = httpx.post(f"{detector.url}/upload", params={"source": "cli", "upload_priority": "true"},
                          files=[("files", jpeg_of(scene())), ("files", jpeg_of(scene()[::-1]))])
    assert response.json() == [200, "OK"]
    wait_until(lambda: len(inbox_images(loop)) == 2, what="uploaded images in the inbox")
    assert all(i["tags"] == ["picked_by_system"] and i["source"] == "cli" for i in inbox_images(loop))
    assert httpx.get(f"{detector.url}/operation_mode").text == "idle"
    assert httpx.put(f"{detector.url}/outbox_mode", content=b"stopped").json() == "OK"
    assert httpx.get(f"{detector.url}/outbox_mode").text == "stopped"
    refused = httpx.put(f"{detector.url}/outbox_mode", content=b"paused")
    assert refused.status_code == 422
    assert refused.json() == {"detail": "Could not set outbox mode: 'paused' is not a valid OutboxMode"}
    refused = httpx.put(f"{detector.url}/operation_mode", content=b"sleeping")
    assert refused.status_code == 422 and refused.json() == {"detail": "'sleeping' is not a valid OperationMode"}
    about = httpx.get(f"{detector.url}/about").json()
    assert about["model_info"]["version"] == "1.0" and about["version_control"] == "follow_loop"
    metrics = httpx.get(f"{detector.url}/metrics").text
    for name in ("loop_detector_requests_total", "loop_detector_request_seconds_bucket",
                 "loop_detector_inference_seconds", "loop_detector_outbox_items",
                 'model_info{format="onnx",provider="CPUExecutionProvider",version="1.0"}'):
        assert name in metrics
    assert httpx.get(f"{detector.url}/docs").status_code == 200


def test_new_version_swaps_in_under_continuous_requests_without_failures(
        detector: Service, loop: httpx.Client, tmp_path: Path) -> None:
    # version 1.1 swaps the colour channels: the red block is reported as "blue" by the new model
    upload_model(loop, tmp_path, "v2", categories=grid_categories(("blue", "green", "red")))
    body = jpeg_of(scene())
    failures: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.post(f"{detector.url}/detect", files={"file": body},
                                    headers={"autoupload": "disabled"})
                except httpx.HTTPError as e:  # a dropped connection is a failed request too, not a silent end
                    failures.append(f"{type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text}")
                else:
                    versions.append(r.json()["model_version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    deploy(loop, "1.1")
    wait_until(lambda: versions[-1:] == ["1.1"] and versions.count("1.1") > 20, timeout=60,
               what="version 1.1 answering")
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert "1.0" in versions and versions[-1] == "1.1"
    last = httpx.post(f"{detector.url}/detect", files={"file": body}).json()
    assert ("blue", 0, 0) in {(b["category_name"], b["x"], b["y"]) for b in last["box_detections"]}


def test_a_slow_build_shows_as_building_in_ready_and_about_while_the_old_model_serves(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    gate = tmp_path / "let the build finish"
    detector = start_detector(stub, loop, start_node, tmp_path, SLOW_BUILD_GATE=str(gate), PYTHONPATH=str(ROOT),
                              LOOP_DETECTOR_LOGIC="tests.e2e.plugins:SlowBuildDetector")
    assert httpx.get(f"{detector.url}/ready").json()["building"] is None
    upload_model(loop, tmp_path, "v2")
    deploy(loop, "1.1")

    def building() -> dict | None:
        about = httpx.get(f"{detector.url}/about").json()
        return about["building"] if about["model_info"]["version"] == "1.0" else None

    wait_until(lambda: (building() or {}).get("version") == "1.1", what="version 1.1 building in /about")
    ready = httpx.get(f"{detector.url}/ready")
    assert ready.status_code == 200 and ready.json()["model_version"] == "1.0"
    assert ready.json()["building"]["version"] == "1.1" and ready.json()["building"]["format"] == "onnx"
    assert httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}).json()["model_version"] == "1.0"
    time.sleep(1)  # still building: nothing finishes it but the gate
    assert (building() or {}).get("version") == "1.1"
    gate.touch()
    wait_until(lambda: httpx.get(f"{detector.url}/about").json()["model_info"]["version"] == "1.1",
               what="version 1.1 serving")
    about, ready = httpx.get(f"{detector.url}/about").json(), httpx.get(f"{detector.url}/ready").json()
    assert about["building"] is None and ready["building"] is None and ready["model_version"] == "1.1"


def test_broken_model_is_reported_and_the_old_one_keeps_serving(
        detector: Service, loop: httpx.Client, tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("model.onnx", b"this is not onnx")
        archive.writestr("model.json", json.dumps({"categories": grid_categories(), "resolution": 64}))
    loop.post(f"/{ORG}/projects/{PROJECT}/onnx", files={"files": ("broken.zip", broken.read_bytes())})
    deploy(loop, "1.1")

    def reported() -> bool:
        status = loop.get(f"/{ORG}/projects/{PROJECT}/detectors").json()["detectors"][0]
        return "update_model" in status["errors"]

    wait_until(reported, what="the failed update in the detector status")
    time.sleep(2)  # several poll cycles
    assert detector.log().count("cannot deploy") == 1  # no retry loop
    assert httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}).json()["model_version"] == "1.0"
    assert httpx.get(f"{detector.url}/ready").status_code == 200


def test_restart_without_the_loop_serves_the_cached_model_and_keeps_the_mode(
        detector: Service, stub: Service, loop: httpx.Client) -> None:
    assert httpx.put(f"{detector.url}/model_version", content=b"pause").json() == "OK"
    stub.stop()
    detector.stop()
    detector.start()
    detector.wait_ready(path="/ready", timeout=30)
    result = httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(scene())}).json()
    assert result["model_version"] == "1.0" and len(result["box_detections"]) == 2
    assert httpx.get(f"{detector.url}/model_version").json()["version_control"] == "pause"


def test_kill_9_loses_nothing_and_repeats_at_most_the_request_in_flight(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    """Counted at the stub's wire, every arrival (tests/received_counts.py). A kill -9 while the Loop is away
    repeats nothing. A kill -9 while an upload is in flight (the Loop has it, its answer never comes back) repeats
    exactly that request's images, the restarted detector's journal names them, and after a start a request holds
    one image (slow start), so a detector that crashes again and again re-sends one image per crash."""
    with Proxy("127.0.0.1", stub.port) as proxy:
        detector = start_detector(stub, loop, start_node, tmp_path, LOOP_HOST=f"127.0.0.1:{proxy.port}",
                                  LOOP_OUTBOX_BACKOFF_CAP="1")
        proxy.mode = "refuse"  # the Loop goes away: accepted images wait in the outbox
        for i in range(20):
            image = scene()
            image[100:120, 100:120] = (i * 10, 0, 0)
            response = httpx.post(f"{detector.url}/detect", files={"file": jpeg_of(image)},
                                  headers={"autoupload": "all"})
            assert response.status_code == 200
        detector.kill()

        def arrivals() -> int:
            return sum(image_arrivals(stub.url, ORG, PROJECT).values())

        def interrupted() -> float:  # what the restarted detector's journal names as in flight at the crash
            return sample(httpx.get(f"{detector.url}/metrics").text, "loop_detector_outbox_interrupted_total") or 0

        assert arrivals() == 0
        proxy.mode = "forward"
        proxy.hold_answers_to = b"/images HTTP"
        in_flight, named = [], []
        for _ in range(3):
            before = arrivals()
            detector.start()
            named.append(interrupted())
            wait_until(lambda: arrivals() > before, timeout=30, what="an upload at the stub")  # noqa: B023
            time.sleep(0.5)  # one request at a time: nothing else can arrive meanwhile
            in_flight.append(arrivals() - before)
            detector.kill()
        proxy.hold_answers_to = None
        detector.start()
        named.append(interrupted())
        wait_until(lambda: len(image_arrivals(stub.url, ORG, PROJECT)) >= 20, timeout=60, what="20 images")
        wait_until(lambda: sum(sample(httpx.get(f"{detector.url}/metrics").text, "loop_detector_outbox_items",
                                      queue=q) or 0 for q in ("normal", "priority")) == 0,
                   timeout=30, what="an empty outbox")
        time.sleep(1.5)

    counts = image_arrivals(stub.url, ORG, PROJECT)
    repeats = sum(n - 1 for n in counts.values())
    assert len(counts) == 20 and len(inbox_images(loop)) == 20  # nothing lost
    assert in_flight == [1, 1, 1]  # slow start: the first request after a start holds one image
    assert repeats == sum(in_flight)  # each crash repeated exactly the images of the request in flight
    # the kill while the Loop was away interrupted nothing (or, if it hit one of the retries, which last milliseconds
    # each, a request that never reached the Loop: named, sent again, arrived once); the journal named each later one
    assert named[0] in (0, 1) and named[1:] == [1, 1, 1], named
