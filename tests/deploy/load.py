"""Continuous requests against the detectors' published port, for the swarm test: `/detect` clients and an `/upload`
client sending a distinct image each time, and Socket.IO clients calling `detect`. Every request's outcome is
recorded with when it started and ended (so a test can tell the requests in flight at a moment from those sent after
it), an unexpected exception in a client thread too (it fails the test instead of ending the thread silently)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass, field

import cv2
import httpx
import numpy as np
import socketio


def distinct_jpeg(n: int) -> bytes:
    """A small JPEG no other `n` gives: n's bits as black and white squares."""
    image = np.full((64, 64, 3), 128, np.uint8)
    for bit in range(32):
        if n >> bit & 1:
            image[bit // 8 * 16:bit // 8 * 16 + 8, bit % 8 * 8:bit % 8 * 8 + 8] = 255
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@dataclass(frozen=True)
class Failure:
    path: str
    started: float  # time.monotonic()
    ended: float
    error: str

    def __str__(self) -> str:
        return f"{self.path}: {self.error}"


@dataclass
class Load:
    url: str
    detect_image: bytes
    detect_clients: int = 3
    first: int = 0  # numbers of the distinct upload images start after this
    ok: int = 0
    failures: list[Failure] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # sha256 prefixes of the images /upload answered 200 for
    crashes: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._counter = self.first
        self._threads = [threading.Thread(target=self._guard, args=(self._detect,), daemon=True)
                         for _ in range(self.detect_clients)]
        self._threads.append(threading.Thread(target=self._guard, args=(self._upload,), daemon=True))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def failed_between(self, start: float, end: float) -> tuple[list[Failure], list[Failure]]:
        """The failures of requests in flight at some moment of [start, end], and those of requests sent after it."""
        with self._lock:
            failures = list(self.failures)
        in_flight = [f for f in failures if f.started <= end and f.ended >= start]
        return in_flight, [f for f in failures if f.started > end]

    def _guard(self, loop: object) -> None:
        try:
            loop()  # type: ignore[operator]
        except BaseException as e:  # recorded, re-raised by stop()
            self.crashes.append(e)

    def _request(self, client: httpx.Client, path: str, **kwargs: object) -> httpx.Response | None:
        with self._lock:
            self._in_flight += 1
        started = time.monotonic()
        try:
            response = client.post(self.url + path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as e:
            with self._lock:
                self.failures.append(Failure(path, started, time.monotonic(), f"{type(e).__name__}: {e}"))
            return None
        finally:
            with self._lock:
                self._in_flight -= 1
        if response.status_code != 200:
            with self._lock:
                self.failures.append(Failure(path, started, time.monotonic(),
                                             f"HTTP {response.status_code}: {response.text[:120]}"))
            return None
        with self._lock:
            self.ok += 1
        return response

    def _client(self) -> httpx.Client:
        # a connection per request, as many cameras make them: the balancer balances connections
        return httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    def _detect(self) -> None:
        with self._client() as client:
            while not self._stop.is_set():
                self._request(client, "/detect", files={"file": self.detect_image}, headers={"autoupload": "disabled"})

    def _upload(self) -> None:
        with self._client() as client:
            while not self._stop.is_set():
                with self._lock:
                    self._counter += 1
                    n = self._counter
                jpeg = distinct_jpeg(n)
                if self._request(client, "/upload", files=[("files", jpeg)]) is not None:
                    with self._lock:
                        self.accepted.add(hashlib.sha256(jpeg).hexdigest()[:16])
                time.sleep(0.05)

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a client thread did not end"
        if self.crashes:
            raise self.crashes[0]


@dataclass
class Session:
    """One Socket.IO client of `SioLoad`: its engine.io session ids in order, when each was lost, its calls."""
    transports: list[str] | None
    sids: list[str] = field(default_factory=list)
    lost: list[float] = field(default_factory=list)  # time.monotonic() of each disconnect
    ok: int = 0
    failures: list[Failure] = field(default_factory=list)

    def failed_in_flight(self) -> list[Failure]:
        """The failed calls that were under way when a session of this client was lost."""
        return [f for f in self.failures if any(f.started <= t <= f.ended for t in self.lost)]


@dataclass
class SioLoad:
    """python-socketio's AsyncClient (the client rosys' DetectorHardware is built on) calling `detect` in a loop,
    one client per entry of `transports` (["polling"], or None: polling, then the upgrade to WebSocket). A client
    reconnects by itself when its session is lost and calls again only once connected (as a robot waits for its
    detector); every call's outcome is recorded on its client's `Session`."""
    url: str
    jpeg: bytes
    transports: list[list[str] | None]
    sessions: list[Session] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sessions = [Session(t) for t in self.transports]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guard, daemon=True)

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.sessions)

    @property
    def failures(self) -> list[Failure]:
        return [f for s in self.sessions for f in s.failures]

    def _guard(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as e:  # recorded, re-raised by stop()
            self.crashes.append(e)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client(s) for s in self.sessions))

    async def _client(self, session: Session) -> None:
        client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=2)

        @client.event
        async def connect() -> None:
            session.sids.append(str(client.eio.sid))

        @client.event
        async def disconnect(reason: object = None) -> None:
            if not self._stop.is_set():  # not the clients' own disconnect at the end
                session.lost.append(time.monotonic())

        started = time.monotonic()
        try:
            await client.connect(self.url, socketio_path="/ws/socket.io", transports=session.transports,
                                 wait_timeout=30)
        except socketio.exceptions.ConnectionError as e:
            session.failures.append(Failure("connect", started, time.monotonic(), f"{type(e).__name__}: {e}"))
            return
        call = {"image": {"format": "jpeg", "bytes": self.jpeg}, "autoupload": "disabled"}
        try:
            while not self._stop.is_set():
                if not client.connected or client.namespaces.get("/") is None:
                    await asyncio.sleep(0.05)  # reconnecting
                    continue
                started = time.monotonic()
                try:
                    answer = await client.call("detect", call, timeout=30)
                except (TimeoutError, socketio.exceptions.SocketIOError) as e:
                    session.failures.append(Failure("detect", started, time.monotonic(),
                                                    f"{type(e).__name__}: {e}"))
                    continue
                if isinstance(answer, dict) and "box_detections" in answer:
                    session.ok += 1
                else:
                    session.failures.append(Failure("detect", started, time.monotonic(), f"answer {answer!r:.120}"))
        finally:  # a polling client's disconnect waits for its pending long-poll GET (up to the ping interval)
            await asyncio.wait_for(client.disconnect(), 60)

    def start(self) -> SioLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the Socket.IO clients did not end"
        if self.crashes:
            raise self.crashes[0]
