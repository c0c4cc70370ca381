"""An accepted image is on disk before the answer leaves: watched at the system-call level with strace.

The detector runs as a real process under `strace -f`; one image goes in through `POST /upload`. The promise
(docs: guarantees) is the order "write each staged file, fsync it, rename it into the queue, fsync the queue's
directory, then answer". Each step is found in the trace by its file names and descriptors, and the steps must
come in that order: leave out either fsync (or answer first) and this test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from loop_testkit.processes import BIN
from tests.conftest import loop_away_env

STRACE = shutil.which("strace")
CALLS = "openat,open,write,writev,sendto,sendmsg,fsync,fdatasync,rename,renameat,renameat2,close"
# `1234 fsync(7) = 0`, `1234 fsync(7 <unfinished ...>`, `1234 <... fsync resumed>) = 0`
LINE = re.compile(r"^(?P<pid>\d+)\s+(?:<\.\.\. (?P<resumed>\w+) resumed>(?P<rest>.*)|(?P<call>\w+)\((?P<args>.*))$")


@dataclass
class Call:
    index: int  # position in the trace: the order the kernel saw the calls enter (or, for `resumed`, return)
    pid: int
    name: str
    args: str
    result: str


def parse(trace: str) -> list[Call]:
    """Complete calls in trace order; a call split by another thread is joined and placed where it returned."""
    pending: dict[tuple[int, str], str] = {}
    calls: list[Call] = []
    for index, line in enumerate(trace.splitlines()):
        match = LINE.match(line)
        if match is None:
            continue
        pid = int(match["pid"])
        if match["resumed"]:
            name = match["resumed"]
            args = pending.pop((pid, name), "") + match["rest"]
        else:
            name, args = match["call"], match["args"]
            if args.endswith("<unfinished ...>"):
                pending[(pid, name)] = args.removesuffix("<unfinished ...>")
                continue
        body, _, result = args.rpartition("=")
        calls.append(Call(index, pid, name, body.strip(), result.strip()))
    return calls


def first(calls: list[Call], what: str, after: int, names: str, *needles: str, fd: str | None = None) -> Call:
    """The first call after trace line `after` named one of `names` (`a|b`), whose first argument is `fd` (when
    given) and whose arguments contain every needle."""
    for call in calls:
        if call.index <= after or call.name not in names.split("|"):
            continue
        if fd is not None and call.args.split(",")[0].rstrip(")") != fd:
            continue
        if all(needle in call.args for needle in needles):
            return call
    raise AssertionError(f"no {what} after trace line {after}")


def fd_of(call: Call) -> str:
    return call.result.split()[0]


@pytest.fixture
def traced_detector(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    if STRACE is None:
        reason = "strace is missing: `make test` installs it with apt (scripts/test_deps.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    data = tmp_path / "detector"
    settings = loop_away_env(data, "fsync")  # the accepted image stays in the outbox, the trace stays short
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")} | settings
    trace = tmp_path / "trace.txt"
    with open(tmp_path / "detector.log", "wb") as log:
        proc = subprocess.Popen([str(STRACE), "-f", "-qq", "-s", "48", "-e", f"trace={CALLS}", "-o", str(trace),
                                 str(BIN / "loop-detector")], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{settings['LOOP_NODE_PORT']}"
    try:
        deadline = time.monotonic() + 90  # a traced start is slower; bounded, and only the event is waited for
        while True:
            assert proc.poll() is None, (tmp_path / "detector.log").read_text()[-3000:]
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the traced detector never answered /health"
            time.sleep(0.2)
        yield url, trace, data
    finally:
        stop(proc)


def stop(tracer: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the detector itself (strace waits for its tracee and ignores the signal while it does)."""
    children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children")
    for pid in (children.read_text().split() if children.exists() else []):
        os.kill(int(pid), signal.SIGTERM)
    try:
        tracer.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in (children.read_text().split() if children.exists() else []):
            os.kill(int(pid), signal.SIGKILL)
        tracer.kill()
        tracer.wait()


def test_an_uploaded_image_is_fsynced_and_its_directory_too_before_the_answer(
        traced_detector: tuple[str, Path, Path]) -> None:
    url, trace, data = traced_detector
    jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))[1].tobytes()
    marker = trace.stat().st_size
    answer = httpx.post(url + "/upload", files=[("files", ("a.jpg", jpeg, "image/jpeg"))], timeout=30)
    assert answer.status_code == 200, answer.text
    queued = sorted((data / "outbox" / "normal").glob("*.json"))
    assert len(queued) == 1, queued
    item = queued[0].stem
    time.sleep(0.5)  # strace writes its log as calls return; the answer's write is already in it when read
    with open(trace) as f:
        f.seek(marker)
        calls = parse(f.read())

    staged = {suffix: first(calls, f"open of the staged .{suffix}", -1, "openat|open", f"tmp/{item}.{suffix}\"")
              for suffix in ("jpg", "json")}
    renamed: dict[str, Call] = {}
    for suffix, opened in staged.items():
        fd = fd_of(opened)
        written = first(calls, f"write of the staged .{suffix}", opened.index, "write", fd=fd)
        synced = first(calls, f"fsync of the staged .{suffix} (fd {fd})", written.index, "fsync|fdatasync", fd=fd)
        closed = first(calls, f"close of the staged .{suffix}", opened.index, "close", fd=fd)
        assert synced.index < closed.index, f"the staged .{suffix} was closed before its fsync"
        renamed[suffix] = first(calls, f"rename of the staged .{suffix} into the queue", synced.index,
                                "rename|renameat|renameat2", f"tmp/{item}.{suffix}\"", f"normal/{item}.{suffix}\"")
    directory = first(calls, "open of the queue's directory", renamed["json"].index, "openat|open",
                      '/outbox/normal"')
    dir_synced = first(calls, "fsync of the queue's directory", directory.index, "fsync|fdatasync",
                       fd=fd_of(directory))
    # nothing but the upload is asked of the detector after the marker, so the last answer it wrote is the upload's
    answers = [c for c in calls if c.name in ("write", "writev", "sendto", "sendmsg") and "HTTP/1.1 200" in c.args]
    assert answers, "the trace holds no HTTP answer"
    response = answers[-1]
    assert dir_synced.index < response.index, "the answer left before the queue's directory was synced"

