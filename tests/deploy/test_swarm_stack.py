"""`make swarm-e2e`: deploy/swarm/stack.yml on a single-node Docker Swarm of this machine (the images are local,
built by `make images`). Three detector replicas answer on one published port (the stack's balancer, HAProxy), to
REST and to Socket.IO clients on polling and on WebSocket; one is killed under continuous requests, one under Socket.IO
clients; a rolling update to a new image tag; three converter replicas convert a batch of models.
What reached the Loop is counted at the stub's receive counters, what the balancer saw in its log. The stack needs no
IPVS (this machine's kernel has none). The stack is removed (and a swarm we created left) even on failure.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loop_testkit.onnx_models import grid_package
from tests.deploy.load import Load, SioLoad
from tests.deploy.swarm import Swarm, bounded, docker

pytestmark = pytest.mark.docker
STACK, PREFIX, ORG = "loop-e2e", "loop-e2e", "zauberzeug"
STUB_PORT, DETECTOR_PORT, STATS_PORT = 18000, 18004, 18404
STUB, DETECTOR = f"http://127.0.0.1:{STUB_PORT}", f"http://127.0.0.1:{DETECTOR_PORT}"
STATS = f"http://127.0.0.1:{STATS_PORT}"
ROLLED = "loop-nodes/detector:e2e-rolled"
REPLICAS, MODELS = 3, 30
SIO_CLIENTS: list[list[str] | None] = [["polling"]] * 3 + [None] * 3  # polling only; polling, then WebSocket
VOLUMES = [f"{PREFIX}-{service}-{slot}" for service in ("detector", "converter", "trainer") for slot in (1, 2, 3)]


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    if docker("info", "--format", "{{.ServerVersion}}", check=False).strip() == "":
        pytest.skip("no Docker engine answers")
    swarm = Swarm(STACK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    env.update(STUB_PORT=str(STUB_PORT), DETECTOR_PORT=str(DETECTOR_PORT), BALANCER_STATS_PORT=str(STATS_PORT),
               VOLUME_PREFIX=PREFIX,
               DETECTOR_REPLICAS=str(REPLICAS), CONVERTER_REPLICAS=str(REPLICAS), TRAINER_REPLICAS="2",
               LOOP_MODEL_FORMATS="onnx", LOOP_CONVERTER_POLL_INTERVAL="2", LOOP_POLL_INTERVAL="2")
    try:
        swarm.ensure()
        swarm.deploy(env)
        bounded(lambda: swarm.running("loop", 1), 180, "the stub Loop running")
        bounded(stub_answers, 60, f"the stub Loop answering on its published port {STUB_PORT}")
        bounded(lambda: swarm.running("balancer", 1), 120, "the balancer running")
        bounded(lambda: swarm.running("detector", REPLICAS), 300, "3 detector replicas running and healthy")
        bounded(lambda: swarm.running("converter", REPLICAS), 240, "3 converter replicas running")
        yield swarm
    except BaseException:
        print("\nthe balancer's log:\n" + swarm.logs("balancer")[-4000:])
        raise
    finally:
        docker("rmi", ROLLED, check=False)
        swarm.cleanup([*VOLUMES, f"{STACK}_loop-data"])


def stub_answers() -> bool:
    try:
        return httpx.get(f"{STUB}/api/status", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def balancer_stats() -> list[dict[str, str]]:
    """HAProxy's own counters (its stats page as CSV): a row per frontend, backend and server slot."""
    text = httpx.get(f"{STATS}/stats;csv", timeout=30).text
    return list(csv.DictReader(io.StringIO(text.removeprefix("# "))))


def socketio_served(current: bool = False) -> dict[str, int]:
    """Per detector task address: the Socket.IO sessions HAProxy handed it in all (or has open now)."""
    column = "scur" if current else "stot"
    return {row["addr"].rsplit(":", 1)[0]: int(row[column]) for row in balancer_stats()
            if row["pxname"] == "socketio" and row["svname"].startswith("detector") and row["addr"]
            and int(row[column]) > 0}


# a request line of deploy/swarm/haproxy.cfg's log-format: client, [accept date], frontend, backend/server, the task's
# address, timers, status, bytes, termination state
REQUEST = re.compile(r"^\S+ \[[^]]+\] \S+ (?P<backend>[\w-]+)/(?P<server>\S+) (?P<address>\S+):(?P<port>\S+) \S+ "
                     r"(?P<status>-?\d+) \S+ (?P<state>\S{4}) ")


def cuts(swarm: Swarm) -> list[str]:
    """The balancer's log lines of REST requests a detector task cut: the server side ended the request (HAProxy's
    termination state S...: aborted, reset or timed out), before a whole answer."""
    return [line for line in swarm.logs("balancer").splitlines()
            if (m := REQUEST.match(line)) and m["backend"] == "rest" and m["state"].startswith("S")]


def on(address: str, line: str) -> bool:
    match = REQUEST.match(line)
    return match is not None and match["address"] == address


@pytest.fixture(scope="module")
def loop(swarm: Swarm) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{STUB}/api", timeout=30) as client:
        bounded(lambda: client.post("/login", data={"username": "admin", "password": "admin"}).status_code == 200,
                60, "a login at the stub")
        yield client


def received(loop: httpx.Client, project: str) -> dict[str, Any]:
    return dict(loop.get("/stats/received", params={"organization": ORG, "project": project}).json())


def arrived(loop: httpx.Client) -> dict[str, int]:
    return {i["sha256"]: i["count"] for i in received(loop, "demo")["images"]}


def demo_image() -> bytes:
    return httpx.get(f"{STUB}/demo.jpg", timeout=30).content


def test_three_detectors_answer_on_one_port_each_with_its_own_identity(swarm: Swarm, loop: httpx.Client) -> None:
    image = demo_image()
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        answers = [client.post(f"{DETECTOR}/detect", files={"file": image}) for _ in range(30)]
    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["box_detections"] for a in answers)
    served = {}
    for task in swarm.tasks("detector"):  # each replica's own count, read inside its container
        metrics = docker("exec", task["container"], "python3", "-c", "import urllib.request as u; print(u.urlopen("
                         "'http://127.0.0.1:8004/metrics').read().decode())")
        served[task["slot"]] = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                   if line.startswith('loop_detector_requests_total{route="/detect",status="200"}'))
    print(f"\n/detect answers per replica through port {DETECTOR_PORT}: {served}")
    assert sorted(served) == [1, 2, 3] and all(n > 0 for n in served.values())

    def names() -> list[str]:
        return sorted(d["name"] for d in loop.get(f"/{ORG}/projects/demo/detectors").json()["detectors"])

    bounded(lambda: len(names()) == 3, 90, "three detectors reporting to the Loop")
    assert names() == [f"detector {ORG}/demo #{slot}" for slot in (1, 2, 3)]


def test_socketio_clients_on_polling_and_on_websocket_fail_no_call(swarm: Swarm, loop: httpx.Client) -> None:
    """An engine.io session lives in one task: every request of a client must reach that task (a polling client's
    pending long-poll GET and the POST of its call are two connections at once)."""
    load = SioLoad(DETECTOR, demo_image(), SIO_CLIENTS).start()
    try:
        bounded(lambda: load.failures or all(s.ok >= 20 for s in load.sessions), 180,
                "20 answered calls on every Socket.IO client")
    finally:
        load.stop()
    print(f"\nSocket.IO through port {DETECTOR_PORT}: {len(load.sessions)} clients (3 polling, 3 default), "
          f"{load.ok} calls answered, {len(load.failures)} failed; sessions per client: "
          f"{[len(s.sids) for s in load.sessions]}; failures: {[str(f) for f in load.failures[:5]]}")
    assert load.failures == []
    assert all(len(s.sids) == 1 and s.lost == [] for s in load.sessions)  # no session was lost on the way
    print(f"Socket.IO requests per detector task (the balancer's stats): {socketio_served()}")


def test_converter_replicas_convert_a_batch_each_model_exactly_once(
        swarm: Swarm, loop: httpx.Client, tmp_path: Path) -> None:
    assert loop.post(f"/{ORG}/projects/generator", json={"project_name": "swarmfarm", "complete": 0}).status_code == 200
    package = grid_package(tmp_path / "model.zip", conv=True).read_bytes()
    ids = [loop.post(f"/{ORG}/projects/swarmfarm/onnx", files={"files": ("m.zip", package)}).json()["id"]
           for _ in range(MODELS)]

    def converted() -> int:
        models = loop.get(f"/{ORG}/projects/swarmfarm/models").json()["models"]
        return sum("onnx_int8" in m["formats"] for m in models)

    started = time.monotonic()
    bounded(lambda: converted() == MODELS, 300, f"{MODELS} models in onnx_int8", interval=2)
    took = time.monotonic() - started
    time.sleep(6)  # three more polls of every replica: nothing is converted again
    counts = {m["model_id"]: m["count"] for m in received(loop, "swarmfarm")["models"] if m["format"] == "onnx_int8"}
    print(f"\n{MODELS} models converted by {REPLICAS} replicas in {took:.0f} s; onnx_int8 uploads received per model: "
          f"{sorted(counts.values())}")
    assert counts == dict.fromkeys(ids, 1)


def test_killing_a_replica_under_load_loses_no_accepted_upload(swarm: Swarm, loop: httpx.Client) -> None:
    victim = next(t for t in swarm.tasks("detector") if t["slot"] == 2)
    address = swarm.address(victim["container"])
    cut_before = len(cuts(swarm))
    load = Load(DETECTOR, demo_image(), first=0).start()
    try:
        time.sleep(5)
        in_flight = load.in_flight  # on all three replicas, a moment before the kill
        kill_started = time.monotonic()
        docker("kill", victim["container"])
        kill_ended = time.monotonic()
        bounded(lambda: swarm.running("detector", REPLICAS) and victim["container"] not in
                {t["container"] for t in swarm.tasks("detector")}, 180, "the killed slot replaced and healthy")
        replaced = time.monotonic() - kill_ended
        time.sleep(5)
    finally:
        load.stop()
    at_kill, after_kill = load.failed_between(kill_started, kill_ended)
    cut = cuts(swarm)[cut_before:]
    bounded(lambda: load.accepted <= set(arrived(loop)), 120, "every accepted upload at the stub")
    counts = arrived(loop)
    repeats = {k: n for k, n in counts.items() if k in load.accepted and n > 1}
    print(f"\nkill: {load.ok} requests answered, {len(load.failures)} failed, {len(at_kill)} of them in flight at the "
          f"kill (on all replicas, a moment before it: {in_flight}), {len(after_kill)} sent after it; the balancer saw "
          f"{len(cut)} requests cut, {sum(on(address, line) for line in cut)} by the killed task "
          f"({address}); slot 2 "
          f"back in {replaced:.0f} s; {len(load.accepted)} uploads accepted, all at the stub, {len(repeats)} of them "
          f"twice; failures: {[str(f) for f in load.failures[:5]]}")
    assert load.ok > 50
    assert after_kill == [], after_kill  # the balancer steers every later request around the dead task
    assert all(on(address, line) for line in cut), cut  # only the killed task cut any
    assert len(at_kill) == len(load.failures) <= len(cut)  # each failure is a request cut on the killed task
    assert len(repeats) <= 1  # at most the one upload in flight on the killed task


def test_killing_the_replica_under_socketio_clients_fails_only_the_calls_in_flight(
        swarm: Swarm, loop: httpx.Client) -> None:
    """The task serving the Socket.IO clients is killed: they reconnect to another task by themselves, and the only
    calls that fail are those under way on a session when it was lost."""
    load = SioLoad(DETECTOR, demo_image(), SIO_CLIENTS).start()
    try:
        bounded(lambda: load.failures or all(s.ok >= 5 for s in load.sessions), 180,
                "5 answered calls on every Socket.IO client")
        serving = socketio_served(current=True)  # the tasks holding the clients' sessions now (HAProxy's count)
        addresses = {swarm.address(t["container"]): t["container"] for t in swarm.tasks("detector")}
        victim = max(serving, key=lambda address: serving[address])
        before = [s.ok for s in load.sessions]
        kill_started = time.monotonic()
        docker("kill", addresses[victim])
        bounded(lambda: all(len(s.sids) > 1 or s.ok >= n + 20 for s, n in zip(load.sessions, before, strict=True)),
                180, "every Socket.IO client answered again after the kill (a new session, or 20 calls more)")
        after = [s.ok for s in load.sessions]
        bounded(lambda: all(s.ok >= n + 5 for s, n in zip(load.sessions, after, strict=True)), 120,
                "5 more answered calls on every Socket.IO client")
        serving_after = socketio_served(current=True)
    finally:
        load.stop()
    bounded(lambda: swarm.running("detector", REPLICAS) and addresses[victim] not in
            {t["container"] for t in swarm.tasks("detector")}, 180, "the killed task replaced and healthy")
    hit = [s for s in load.sessions if s.lost]
    in_flight = [f for s in load.sessions for f in s.failed_in_flight()]
    print(f"\nSocket.IO kill of the task at {victim} (it held {serving[victim]} of the {sum(serving.values())} "
          f"open Socket.IO connections): {len(hit)} of {len(load.sessions)} clients lost their session and "
          f"reconnected ({[len(s.sids) for s in load.sessions]} sessions each); {load.ok} calls answered, "
          f"{len(load.failures)} failed, {len(in_flight)} of them in flight on a session when it was lost; open "
          f"connections per task after: {serving_after}; failures: {[str(f) for f in load.failures[:6]]}")
    assert hit and all(t >= kill_started for s in hit for t in s.lost)  # sessions were lost at the kill, not before
    assert all(len(s.sids) == 1 + len(s.lost) for s in load.sessions)  # each lost session was replaced by one
    assert victim not in serving_after  # they reconnected to the other tasks
    assert load.failures == in_flight  # no call failed but those in flight when their session was lost
    assert len(load.failures) <= len(hit)  # a client has one call under way at a time


def test_rolling_update_to_a_new_tag_fails_no_request(swarm: Swarm, loop: httpx.Client) -> None:
    docker("tag", "loop-nodes/detector:latest", ROLLED)
    load = Load(DETECTOR, demo_image(), first=1_000_000).start()
    try:
        time.sleep(3)
        started = time.monotonic()
        docker("service", "update", "--detach", "--no-resolve-image", "--image", ROLLED, swarm.service("detector"))
        state = bounded(lambda: swarm.update_state("detector") not in ("", "updating") and
                        swarm.update_state("detector"), 420, "the rolling update to end", interval=2)
        took = time.monotonic() - started
        time.sleep(3)
    finally:
        load.stop()
    images = {t["image"] for t in swarm.tasks("detector")}
    if load.failures:  # when and where: the failures on the clock of the balancer's log, and what it saw
        offset = time.time() - time.monotonic()
        print("\nfailed at: " + " ".join(time.strftime("%H:%M:%S", time.gmtime(f.started + offset)) +
                                      f".{int((f.started + offset) % 1 * 1000):03d}" for f in load.failures))
        print("\n".join(line for line in swarm.logs("balancer").splitlines()  # state changes, requests not answered 200
                        if not (m := REQUEST.match(line)) or m["status"] != "200"))
        for name in ("detector", "balancer"):  # a balancer restarted (its port then resets) shows here too
            print(docker("service", "ps", "--no-trunc", "--format", "{{.Name}} {{.Image}} {{.CurrentState}} "
                         "{{.Error}}", swarm.service(name)))
    bounded(lambda: load.accepted <= set(arrived(loop)), 120, "every accepted upload at the stub")
    print(f"\nrolling update to {ROLLED}: {state} in {took:.0f} s; {load.ok} requests answered, {len(load.failures)} "
          f"failed; {len(load.accepted)} uploads accepted, all at the stub; failures: "
          f"{[str(f) for f in load.failures[:5]]}")
    assert state == "completed" and images == {ROLLED}
    assert load.failures == [] and load.ok > 50


def test_trainers_each_have_their_own_slot_volume(swarm: Swarm, loop: httpx.Client) -> None:
    bounded(lambda: swarm.running("trainer", 2), 240, "2 trainer replicas running")
    volumes = docker("volume", "ls", "-q", "--filter", f"name={PREFIX}-trainer-").split()
    assert sorted(volumes) == [f"{PREFIX}-trainer-1", f"{PREFIX}-trainer-2"]
    metrics = httpx.get(f"{STUB}/metrics", timeout=30).text
    bounded(lambda: 'loop_stub_connected_nodes{type="trainer"} 2.0' in httpx.get(f"{STUB}/metrics", timeout=30).text,
            120, "two trainers connected to the stub", interval=2)
    assert "loop_stub_connected_nodes" in metrics
