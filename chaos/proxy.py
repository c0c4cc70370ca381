"""A TCP port-forwarder in front of the stub Loop that can play an outage: `forward` passes connections through,
`refuse` closes its port (connections are refused, as when the Loop's process is gone), `reset` accepts and resets
every connection at once (a load balancer or port-forwarder with no backend). Leaving `forward` cuts the
connections under way with a reset too, as a restarting Loop would. `hold_answers_to` (bytes, e.g. b"/images ")
makes a Loop that gets a request but whose answer never comes back: once a request line holding it passes on a
connection, that connection's answers are held back (until `hold_answers_to` is None again), so a node can be
killed with that request in flight after the Loop has it.

    with Proxy("127.0.0.1", stub.port) as proxy:   # nodes use LOOP_HOST=127.0.0.1:{proxy.port}
        proxy.mode = "reset"
        ...
        proxy.accepted  # connections accepted per mode, e.g. {"forward": 12, "reset": 40}
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

from loop_testkit.processes import free_port

MODES = ("forward", "refuse", "reset")


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a goodbye (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Proxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = free_port()
        self.accepted: dict[str, int] = {}
        self.hold_answers_to: bytes | None = None
        self._mode = "forward"
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="chaos-proxy", daemon=True)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            self._mode = mode
            if mode == "refuse" and self._listener is not None:
                self._listener.close()  # at once: nothing listens, the kernel refuses connections
                self._listener = None
            if mode != "forward":
                for sock in self._live:
                    _reset(sock)
                self._live.clear()

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for sock in self._live:
                _reset(sock)
            self._live.clear()

    def _listen(self) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        return listener

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    mode = self._mode
                    if mode != "refuse" and self._listener is None:
                        self._listener = self._listen()
                    listener = self._listener
                if listener is None:
                    self._stop.wait(0.05)
                    continue
                try:
                    if not select.select([listener], [], [], 0.05)[0]:
                        continue
                    client, _ = listener.accept()
                except (OSError, ValueError):  # closed by a switch to `refuse` meanwhile
                    continue
                mode = self._mode
                self.accepted[mode] = self.accepted.get(mode, 0) + 1
                if mode != "forward":
                    _reset(client)
                    continue
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    _reset(client)  # the Loop behind us is down: pass that on as a reset
                    continue
                server.settimeout(None)
                with self._lock:
                    self._live.update((client, server))
                threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
        finally:
            with self._lock:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Copy bytes both ways until either side closes (the answers only while they are not held back)."""
        held = False
        try:
            while True:
                marker = self.hold_answers_to
                held = held and marker is not None
                readable, _, _ = select.select([a] if held else [a, b], [], [], 0.2)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is a and marker is not None and marker in data.partition(b"\r\n")[0]:
                        held = True
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):  # reset by a mode change, or by either side
            return
        finally:
            with self._lock:
                for sock in (a, b):
                    if sock in self._live:
                        self._live.discard(sock)
                        sock.close()
