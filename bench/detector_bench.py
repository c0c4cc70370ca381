"""Detector benchmarks: server against in-process, REST and Socket.IO, concurrency 1 and 4, batch route."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websocket

from loop_detector import images as image_io
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.imaging import letterbox, to_tensor
from loop_shared.model_package import extract_package, read_model_json
from loop_shared.schemas import ModelInformation
from loop_shared.settings import load_settings
from loop_testkit.scene_categories import make_categories
from loop_testkit.scenes import encode_jpeg, render_scene

from .common import ORG, ms, node_env, percentiles, rss_mb, wait_for


def scene_jpeg(width: int, height: int) -> bytes:
    image, _ = render_scene(np.random.default_rng(7), make_categories(2, 0, 0, 0), width, height, objects=3)
    return bytes(encode_jpeg(image))


def load(work: Callable[[], object], concurrency: int, count: int) -> tuple[list[float], float]:
    """Run `work` `count` times from `concurrency` threads; per-call latencies and calls per second."""
    latencies: list[float] = []
    lock = threading.Lock()
    each = max(1, count // concurrency)
    prepare = getattr(work, "prepare", None)
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        try:
            if prepare is not None:
                prepare()
        except BaseException:
            ready.abort()
            raise
        ready.wait()
        local = []
        for _ in range(each):
            started = time.perf_counter()
            work()
            local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        try:
            ready.wait(timeout=60)  # every thread connected: start the clock
        except threading.BrokenBarrierError:
            for future in futures:
                future.result()  # the error of the thread that could not connect
            raise
        started = time.perf_counter()
        for future in futures:
            future.result()
    return latencies, len(latencies) / (time.perf_counter() - started)


def rest_caller(url: str, jpeg: bytes) -> Callable[[], Callable[[], None]]:
    """A minimal keep-alive HTTP/1.1 client on a plain socket with the whole request prebuilt (as wrk does), so
    that the load generator, which shares the 2 cores with the server here, costs as little as possible and the
    figures show the server. It reads the status line, Content-Length and the body, and checks the status."""
    host, port = url.removeprefix("http://").split(":")
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode() + jpeg + f"\r\n--{boundary}--\r\n".encode()
    request = (f"POST /detect HTTP/1.1\r\nHost: {host}:{port}\r\nautoupload: disabled\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body

    def make() -> Callable[[], None]:
        connection = socket.create_connection((host, int(port)), timeout=60)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def call() -> None:
            connection.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received:
                received += _recv(connection)
            head, _, content = received.partition(b"\r\n\r\n")
            status, *fields = head.split(b"\r\n")
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"detect answered {status!r}")
            length = next(int(f.split(b":")[1]) for f in fields if f.lower().startswith(b"content-length:"))
            while len(content) < length:
                content += _recv(connection)
        return call
    return make


def _recv(connection: socket.socket) -> bytes:
    data = connection.recv(65536)
    if not data:
        raise RuntimeError("the detector closed the connection")
    return data


def sio_caller(url: str, jpeg: bytes) -> Callable[[], Callable[[], None]]:
    """A minimal Socket.IO client on one websocket and no background thread, for the same reason as above: the
    Engine.IO handshake and the namespace connect once, then per call a binary event (one text frame with the
    placeholder, one binary frame with the JPEG), answering the server's pings, until its acknowledgement."""
    address = url.replace("http://", "ws://") + "/ws/socket.io/?EIO=4&transport=websocket"

    def make() -> Callable[[], None]:
        ws = websocket.create_connection(address, timeout=60, enable_multithread=False)
        assert ws.sock is not None
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not str(ws.recv()).startswith("0"):
            raise RuntimeError("no Engine.IO handshake")
        ws.send("40")
        if not str(ws.recv()).startswith("40"):
            raise RuntimeError("the Socket.IO namespace was not connected")
        ids = itertools.count()

        def call() -> None:
            ack = next(ids)
            ws.send(f'451-{ack}["detect",{{"image":{{"format":"jpeg","bytes":{{"_placeholder":true,"num":0}}}},'
                    '"autoupload":"disabled"}]')
            ws.send_binary(jpeg)
            prefix = f"43{ack}["
            while True:
                frame = ws.recv()
                if frame == "2":
                    ws.send("3")
                elif isinstance(frame, str) and frame.startswith(prefix):
                    if "error" in json.loads(frame[len(prefix) - 1:])[0]:
                        raise RuntimeError(f"detect failed: {frame[:200]}")
                    return
        return call
    return make


class PerThread:
    """One client per thread (HTTP keep-alive and Socket.IO connections are not shared between threads); `load`
    connects each thread's client before it starts the clock."""

    def __init__(self, make: Callable[[], Callable[[], None]]) -> None:
        self.make, self.local = make, threading.local()

    def prepare(self) -> None:
        if not hasattr(self.local, "call"):
            self.local.call = self.make()

    def __call__(self) -> None:
        self.prepare()
        self.local.call()


def per_thread(make: Callable[[], Callable[[], None]]) -> PerThread:
    return PerThread(make)


def bench_model(name: str, package: Path, jpeg: bytes, counts: tuple[int, int], loop: httpx.Client, stub: Any,
                work: Path, start_node: Callable[..., Any]) -> tuple[list[list[Any]], list[str], dict[str, Any]]:
    project = f"det-{name.split()[0]}"
    loop.post(f"/{ORG}/projects/generator", json={"project_name": project, "complete": 0, "box_categories": 1})
    model = loop.post(f"/{ORG}/projects/{project}/onnx", files={"files": ("m.zip", package.read_bytes())}).json()
    loop.put(f"/{ORG}/projects/{project}/deployment/target", json={"version": model["version"]})
    started = time.monotonic()
    detector = start_node("loop-detector", node_env(stub, work / f"detector-{project}", project,
                                                    LOOP_POLL_INTERVAL="0.2"))
    wait_for(lambda: httpx.get(f"{detector.url}/ready").status_code == 200, 120, "detector ready")
    cold = time.monotonic() - started
    idle = rss_mb(detector.proc.pid)

    settings = load_settings(DetectorSettings, organization="o", project="p")
    directory = extract_package(package, work / f"inproc-{project}")
    info = ModelInformation.model_validate({**read_model_json(directory), "id": "x", "organization": "o",
                                            "project": "p", "version": "1"})
    logic = OnnxDetectorLogic(info, directory, settings)
    logic.load()
    decoded = image_io.decode(jpeg, settings.max_image_bytes, settings.max_image_pixels)
    resized, _ = letterbox(decoded, logic.width, logic.height, logic.keep_ratio)
    tensor = to_tensor(resized, logic.input_dtype)

    def in_process() -> None:
        logic.evaluate(image_io.decode(jpeg, settings.max_image_bytes, settings.max_image_pixels))

    def raw_run() -> None:
        logic.session.run(None, {logic.input_name: tensor})

    n1, n4 = counts
    for warm in (in_process, per_thread(rest_caller(detector.url, jpeg)), per_thread(sio_caller(detector.url, jpeg))):
        load(warm, 2, 4)
    raw_lat, raw_rps = load(raw_run, 1, n1)
    rows, peak = [], [idle]
    sampler_stop = threading.Event()

    def sample() -> None:
        while not sampler_stop.is_set():
            peak.append(rss_mb(detector.proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    # every path in alternating rounds, so that the machine's noise (shared, 2 cores) falls on all of them alike:
    # the overhead (a difference of medians) and the throughput ratio compare figures taken over the same time
    rest, sio = per_thread(rest_caller(detector.url, jpeg)), per_thread(sio_caller(detector.url, jpeg))
    paths: dict[tuple[str, int], Callable[[], object]] = {
        ("in-process", 1): in_process, ("REST", 1): rest, ("Socket.IO", 1): sio, ("in-process", 2): in_process,
        ("in-process", 4): in_process, ("REST", 4): rest, ("Socket.IO", 4): sio}
    latencies: dict[tuple[str, int], list[float]] = {key: [] for key in paths}
    seconds = dict.fromkeys(paths, 0.0)
    rounds = 6
    for round_ in range(rounds):
        for (path, concurrency), call in paths.items():
            if concurrency > 1 and round_ % 2:
                continue  # half as many rounds at concurrency 2 and 4, each twice as long
            count = max(1, n1 // rounds) if concurrency == 1 else max(concurrency, 2 * n4 // rounds)
            taken, rate = load(call, concurrency, count)
            latencies[(path, concurrency)] += taken
            seconds[(path, concurrency)] += len(taken) / rate
    rps = {key: len(latencies[key]) / seconds[key] for key in paths}
    inproc_lat, inproc_rps = latencies[("in-process", 1)], rps[("in-process", 1)]
    best_inproc = max(rps[("in-process", 2)], rps[("in-process", 4)])
    results: dict[Any, Any] = {}
    for transport in ("REST", "Socket.IO"):
        for concurrency in (1, 4):
            stats = percentiles(latencies[(transport, concurrency)])
            results[(transport, concurrency)] = (stats, rps[(transport, concurrency)])
            rows.append([name, transport, concurrency, f"{rps[(transport, concurrency)]:.1f}", ms(stats["p50"]),
                         ms(stats["p95"]), ms(stats["p99"])])
    batch_client = httpx.Client(timeout=120)
    batch = [("files", ("i.jpg", jpeg, "image/jpeg"))] * 8
    _, batch_rps = load(lambda: batch_client.post(f"{detector.url}/detect/batch", files=batch,
                                                          headers={"autoupload": "disabled"}).raise_for_status(),
                                1, max(4, n1 // 8))
    sampler_stop.set()
    sampler.join()
    inproc = percentiles(inproc_lat)
    rows.insert(0, [name, "in-process (decode+pre+run+post)", 1, f"{inproc_rps:.1f}", ms(inproc["p50"]),
                    ms(inproc["p95"]), ms(inproc["p99"])])
    raw = percentiles(raw_lat)
    rows.insert(0, [name, "raw session.run", 1, f"{raw_rps:.1f}", ms(raw["p50"]), ms(raw["p95"]), ms(raw["p99"])])
    rows.append([name, "in-process, best of 2/4 threads", "2-4", f"{best_inproc:.1f}", "", "", ""])
    rest1, rest4 = results[("REST", 1)], results[("REST", 4)]
    sio1 = results[("Socket.IO", 1)]
    notes = [
        f"- **{name}** (all paths measured in alternating rounds): server overhead at concurrency 1 (p50 minus "
        "in-process p50): REST "
        f"{ms(rest1[0]['p50'] - inproc['p50'])} ms, Socket.IO {ms(sio1[0]['p50'] - inproc['p50'])} ms; "
        f"REST throughput at concurrency 4 is {100 * rest4[1] / best_inproc:.0f}% of the best in-process "
        f"({rest4[1]:.1f} vs {best_inproc:.1f}/s); batch route (8 images per request) "
        f"{8 * batch_rps:.1f} images/s vs single requests {rest1[1]:.1f}/s at concurrency 1."]
    memory = {"cold": cold, "idle": idle, "load": max(peak)}
    detector.stop()
    return rows, notes, memory
