"""A TCP forwarder in front of a Loop that keeps everything its clients send, decoded into the messages a node sent:
each HTTP request (request line, headers and the body, de-chunked) and each WebSocket message (unmasked, inflated
where permessage-deflate was agreed; Socket.IO's frames travel in these). What it could not decode is kept as one
`unparsed` message, so nothing a node sent escapes a search. Tests assert on what left the node, whatever the Loop
behind the forwarder made of it.

    with WireRecorder("127.0.0.1", stub.port) as wire:   # nodes use LOOP_HOST=127.0.0.1:{wire.port}
        ...
        wire.messages()   # every Sent, per connection in order
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import zlib
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import quote, quote_plus

from .processes import free_port

ANSWER_KEPT = 64 * 1024  # of each connection's answers only the start matters: a WebSocket upgrade's 101


@dataclass(frozen=True)
class Sent:
    """One message a client sent: `kind` is "http", "websocket" or "unparsed"; `head` is an HTTP request's line
    and headers (empty otherwise), `body` its body or the WebSocket message's payload."""

    connection: int
    kind: str
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.partition(b"\r\n")[0].decode("latin-1")

    @property
    def method(self) -> str:
        return self.request_line.split(" ")[0] if self.kind == "http" else ""

    @property
    def path(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1].partition("?")[0] if self.kind == "http" and len(parts) > 1 else ""

    def describe(self) -> str:
        what = self.request_line if self.kind == "http" else self.kind
        return f"connection {self.connection}: {what} ({len(self.body)} bytes of body)"


def secret_encodings(secret: str) -> list[bytes]:
    """How `secret` may look inside a request: as is, percent-encoded (form bodies, query strings), JSON-escaped,
    and in base64 (e.g. Basic auth), at each of the three alignments base64 can put it in."""
    raw = secret.encode()
    found = {raw, quote(secret, safe="").encode(), quote_plus(secret).encode(), json.dumps(secret)[1:-1].encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        found.add(encoded[4 * (offset > 0): 4 * ((offset + len(raw)) // 3)])
    return sorted(found)


def carries(message: Sent, secret: str) -> bool:
    return any(needle in part for needle in secret_encodings(secret) for part in (message.head, message.body))


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """A chunked body starting at `pos`: (the body, where the next request starts), or None if it is incomplete."""
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(data[pos:line_end].split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:  # the last chunk; trailer lines (rare) until a blank line
            if data[pos:pos + 2] == b"\r\n":
                return bytes(body), pos + 2
            end = data.find(b"\r\n\r\n", pos)
            return (bytes(body), end + 4) if end >= 0 else None
        if pos + size + 2 > len(data):
            return None
        body += data[pos:pos + size]
        pos += size + 2


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not key or not payload:
        return payload
    mask = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(payload), "big")


def _websocket(connection: int, data: bytes, pos: int, extensions: str) -> tuple[list[Sent], int]:
    """The client's WebSocket messages from `pos` on, and where the undecoded rest starts."""
    deflate = "permessage-deflate" in extensions
    fresh_context = "client_no_context_takeover" in extensions
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    messages: list[Sent] = []
    fragments, compressed = bytearray(), False
    while pos + 2 <= len(data):
        first, second = data[pos], data[pos + 1]
        length, at = second & 0x7F, pos + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            length, at = int.from_bytes(data[at:at + width], "big"), at + width
        key = data[at:at + 4] if second & 0x80 else b""
        at += len(key)
        if at + length > len(data):
            break
        payload, pos = _unmask(data[at:at + length], key), at + length
        opcode = first & 0x0F
        if opcode >= 8:  # close, ping, pong: kept too (a close frame carries a reason)
            messages.append(Sent(connection, "websocket", b"", payload))
            continue
        if opcode != 0:
            fragments, compressed = bytearray(), bool(first & 0x40) and deflate
        fragments += payload
        if first & 0x80:
            if compressed:
                if fresh_context:
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                body = inflater.decompress(bytes(fragments) + b"\x00\x00\xff\xff")
            else:
                body = bytes(fragments)
            messages.append(Sent(connection, "websocket", b"", body))
    return messages, pos


def decode(connection: int, sent: bytes, answered: bytes) -> list[Sent]:
    """What one connection's client sent (`sent`, all of it), given the start of what it was answered."""
    messages: list[Sent] = []
    pos = 0
    while pos < len(sent):
        end = sent.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head, start = sent[pos:end], end + 4
        headers = _headers(head)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunked = _dechunk(sent, start)
            if chunked is None:
                break
            body, after = chunked
        else:
            length = int(headers.get("content-length", "0") or 0)
            if start + length > len(sent):
                break
            body, after = sent[start:start + length], start + length
        messages.append(Sent(connection, "http", head, body))
        pos = after
        if headers.get("upgrade", "").lower() == "websocket" and answered.startswith(b"HTTP/1.1 101"):
            answer_head = answered[:answered.find(b"\r\n\r\n")] if b"\r\n\r\n" in answered else answered
            frames, pos = _websocket(connection, sent, pos, _headers(answer_head).get("sec-websocket-extensions", ""))
            messages += frames
            break
    if pos < len(sent):
        messages.append(Sent(connection, "unparsed", b"", sent[pos:]))
    return messages


@dataclass
class _Connection:
    sent: bytearray = field(default_factory=bytearray)
    answered: bytearray = field(default_factory=bytearray)


class WireRecorder:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = free_port()
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._thread = threading.Thread(target=self._serve, name="wire-recorder", daemon=True)
        self._pumps: list[threading.Thread] = []

    def __enter__(self) -> WireRecorder:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for pump in self._pumps:
            pump.join(timeout=5)
        self._listener.close()

    def messages(self) -> list[Sent]:
        """Every message sent through the recorder so far, connection by connection."""
        with self._lock:
            copies = [(bytes(c.sent), bytes(c.answered)) for c in self._connections]
        return [message for number, (sent, answered) in enumerate(copies) for message in decode(number, sent, answered)]

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._listener], [], [], 0.1)[0]:
                continue
            client, _ = self._listener.accept()
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()  # nothing behind us: the client sees its connection closed
                continue
            record = _Connection()
            with self._lock:
                self._connections.append(record)
            pump = threading.Thread(target=self._pump, args=(client, server, record), daemon=True)
            self._pumps.append(pump)
            pump.start()

    def _pump(self, client: socket.socket, server: socket.socket, record: _Connection) -> None:
        """Copy both ways until either side closes, keeping all the client sent and the start of the answers."""
        with client, server:
            server.settimeout(None)
            while not self._stop.is_set():
                for source in select.select([client, server], [], [], 0.1)[0]:
                    try:
                        data = source.recv(65536)
                    except OSError:  # reset by either side
                        return
                    if not data:
                        return
                    with self._lock:
                        if source is client:
                            record.sent += data
                        elif len(record.answered) < ANSWER_KEPT:
                            record.answered += data[:ANSWER_KEPT - len(record.answered)]
                    try:
                        (server if source is client else client).sendall(data)
                    except OSError:
                        return
