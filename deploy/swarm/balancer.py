"""A TCP round-robin load balancer for the detector replicas of deploy/swarm/stack.yml, standard library only.

Swarm's own load balancing (the routing mesh behind published ports, and a service's virtual IP) is built on the
kernel's IPVS; where the kernel has none, neither answers. This balancer needs no IPVS: it resolves `tasks.detector`
(Swarm's DNS round robin, which lists a task only while it is healthy) every `--refresh` seconds and hands each
client connection to the next task in turn. A task that refuses or does not answer within `--connect-timeout` is
skipped for that connection (and for `--hold-off` seconds) and the next one is tried, so a task that has just gone
costs a client a short delay, not a failed request. Bytes are copied unchanged both ways: one client connection is
one backend connection, and a request in flight on a task that dies fails, as it would behind any TCP balancer.

    python3 balancer.py --listen 8004 --backend tasks.detector:8004
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import time
from collections.abc import Sequence

log = logging.getLogger("balancer")
Address = tuple[str, int]


class Backends:
    """The addresses the backend names resolve to, refreshed in the background, handed out in turn."""

    def __init__(self, names: Sequence[Address], hold_off: float) -> None:
        self.names, self.hold_off = list(names), hold_off
        self.addresses: list[Address] = []
        self._down_until: dict[Address, float] = {}
        self._turn = itertools.count()

    async def resolve(self) -> None:
        loop = asyncio.get_running_loop()
        found: set[Address] = set()
        for host, port in self.names:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError):  # no task of the service is healthy right now
                continue
            found.update((str(info[4][0]), int(info[4][1])) for info in infos)
        addresses = sorted(found)
        if addresses != self.addresses:
            log.info("backends: %s", " ".join(f"{h}:{p}" for h, p in addresses) or "none")
        self.addresses = addresses

    async def refresh(self, every: float) -> None:
        while True:
            await self.resolve()
            await asyncio.sleep(every)

    def candidates(self) -> list[Address]:
        """Every known address once: those not held off after a failure in turn, starting with the next, then the
        held-off ones (tried last rather than never: they may be back)."""
        now = time.monotonic()
        ready = [a for a in self.addresses if self._down_until.get(a, 0) <= now]
        held = [a for a in self.addresses if self._down_until.get(a, 0) > now]
        if ready:
            start = next(self._turn) % len(ready)
            ready = ready[start:] + ready[:start]
        return ready + held

    def failed(self, address: Address) -> None:
        self._down_until[address] = time.monotonic() + self.hold_off


class Balancer:
    def __init__(self, backends: Backends, connect_timeout: float) -> None:
        self.backends, self.connect_timeout = backends, connect_timeout
        self.connections: set[asyncio.Task[None]] = set()
        self.served: dict[Address, int] = {}  # client connections handed to each backend
        self.cut = 0  # connections a backend closed or reset after the client had sent bytes, before any answer

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            backend = await self._connect()
            if backend is None:
                log.warning("no backend answers: connection from %s closed", client_writer.get_extra_info("peername"))
                _abort(client_writer)
                return
            address, (backend_reader, backend_writer) = backend
            self.served[address] = self.served.get(address, 0) + 1
            asked, answered = await self._pipe(client_reader, client_writer, backend_reader, backend_writer)
            if asked and not answered:
                self.cut += 1
                log.warning("%s:%d closed a connection without answering (%d such so far)", *address, self.cut)
        finally:
            self.connections.discard(task)

    async def _connect(self) -> tuple[Address, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        candidates = self.backends.candidates()
        if not candidates:  # between two refreshes, e.g. all tasks replaced at once: look again, once
            await self.backends.resolve()
            candidates = self.backends.candidates()
        for address in candidates:
            try:
                streams = await asyncio.wait_for(asyncio.open_connection(*address), self.connect_timeout)
            except (TimeoutError, OSError) as e:
                log.info("%s:%d does not answer (%s): trying the next", *address, type(e).__name__)
                self.backends.failed(address)
                continue
            return address, streams
        return None

    async def _pipe(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                    backend_reader: asyncio.StreamReader, backend_writer: asyncio.StreamWriter) -> tuple[bool, bool]:
        """Copy both ways until both sides are done; whether the client sent anything, whether the backend did."""
        asked, answered = asyncio.Event(), asyncio.Event()
        upstream = asyncio.create_task(_copy(client_reader, backend_writer, asked))
        downstream = asyncio.create_task(_copy(backend_reader, client_writer, answered))
        try:
            done, _ = await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_EXCEPTION)
            if any(t.exception() is not None for t in done):  # a reset on either side: pass it on as a reset
                _abort(client_writer)
                _abort(backend_writer)
            await asyncio.gather(upstream, downstream, return_exceptions=True)
        finally:
            for task in (upstream, downstream):
                task.cancel()
            for writer in (client_writer, backend_writer):
                writer.close()
        return asked.is_set(), answered.is_set()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first_byte: asyncio.Event) -> None:
    while data := await reader.read(65536):
        first_byte.set()
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, so the other side learns at once that its request is lost."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


def address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, not {text!r}")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    backends = Backends(args.backend, args.hold_off)
    balancer = Balancer(backends, args.connect_timeout)
    refresher = asyncio.create_task(backends.refresh(args.refresh))
    server = await asyncio.start_server(balancer.handle, args.host, args.listen, backlog=1024)
    log.info("listening on %s:%d for %s", args.host, args.listen, " ".join(f"{h}:{p}" for h, p in args.backend))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # stop taking connections, let those under way finish (bounded: Swarm kills us after stop_grace_period)
    server.close()
    if balancer.connections:
        await asyncio.wait(set(balancer.connections), timeout=args.grace)
    refresher.cancel()
    log.info("stopped; connections served per backend: %s; cut before an answer: %d", balancer.served, balancer.cut)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="port to listen on")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (all of the container's)")
    parser.add_argument("--backend", type=address, action="append", required=True,
                        help="host:port whose every address is a backend, e.g. tasks.detector:8004 (repeatable)")
    parser.add_argument("--refresh", type=float, default=0.5, help="seconds between two DNS look-ups")
    parser.add_argument("--connect-timeout", type=float, default=1.0, help="seconds a backend has to accept")
    parser.add_argument("--hold-off", type=float, default=3.0, help="seconds a failed backend is tried last")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds to let connections finish on SIGTERM")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
