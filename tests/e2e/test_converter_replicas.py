"""Three converter processes share 30 models; one is killed, the other two take over its share after
LOOP_TAKEOVER_AFTER. Counted at the stub Loop's receive counters: each model's converted format arrives once. Who
converted what is read from each replica's conversions and its log; that an orphan waits for the takeover time
(and an owned model does not) is the partition's promise, tested on a controlled clock in
tests/converter/test_partition.py, not timed here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from loop_converter.partition import owner, ranking
from loop_converter.records import Records
from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import received
from tests.conftest import ORG, node_env

ROOT = Path(__file__).resolve().parents[2]
PROJECT, MODELS, TAKEOVER = "farm", 30, 20.0


def last_scan(replica: Service) -> float | None:
    """When the replica's last complete scan ended (its /status)."""
    return httpx.get(f"{replica.url}/status", timeout=30).json()["last_scan"]


def test_three_replicas_one_killed_convert_30_models_each_exactly_once(
        stub: Service, loop: httpx.Client, start_node: Callable[..., Service], tmp_path: Path) -> None:
    loop.post(f"/{ORG}/projects/generator", json={"project_name": PROJECT, "complete": 0})
    replicas = [start_node("loop-converter", node_env(
        stub, tmp_path / f"converter-{i}", PROJECT, LOOP_CONVERTER_LOGIC="tests.e2e.plugins:FormatAToB",
        LOOP_POLL_INTERVAL="0.5", LOOP_REPLICAS="3", LOOP_REPLICA_INDEX=f"loop-converter-{i}",  # a pod's name
        LOOP_TAKEOVER_AFTER=str(TAKEOVER), PYTHONPATH=str(ROOT)), ready_path="/ready") for i in range(3)]
    replicas[2].kill()

    package = grid_package(tmp_path / "model.zip", conv=True).read_bytes()
    ids = [loop.post(f"/{ORG}/projects/{PROJECT}/format_a", files={"files": ("m.zip", package)}).json()["id"]
           for _ in range(MODELS)]
    key = {i: Records.key(ORG, PROJECT, i, "format_b") for i in ids}
    orphans = {i for i in ids if owner(key[i], 3) == 2}
    assert 1 <= len(orphans) <= 18  # the killed replica had a share to take over (random ids: about 10)

    def all_converted() -> bool:
        models = loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"]
        return sum("format_b" in m["formats"] for m in models) == MODELS

    wait_until(all_converted, timeout=300, what="all 30 models in format_b")
    for _ in range(2):  # two more complete scans of both survivors, the second begun after the last conversion
        before = [last_scan(r) for r in replicas[:2]]
        wait_until(lambda before=before: all(last_scan(r) != b for r, b in zip(replicas[:2], before, strict=True)),
                   timeout=120, what="a complete scan of both survivors")
    listing = received(stub.url, organization=ORG, project=PROJECT)["models"]
    arrivals = {m["model_id"]: m for m in listing if m["format"] == "format_b"}
    assert {i: m["count"] for i, m in arrivals.items()} == dict.fromkeys(ids, 1)
    # each survivor converted what the ranking gives it (an orphan goes to the second in its ranking), no more,
    # and took over exactly the orphans it converted, each named in its log
    taker = {i: ranking(key[i], 3)[1] if i in orphans else owner(key[i], 3) for i in ids}
    version = {m["id"]: m["version"] for m in loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"]}
    for index, replica in enumerate(replicas[:2]):
        conversions = httpx.get(f"{replica.url}/conversions").json()["conversions"]
        done = {c["model_id"] for c in conversions if c["status"] == "converted"}
        assert done == {i for i in ids if taker[i] == index}
        assert replica.log().count("taking over model") == len(done & orphans)
        assert all(f"taking over model {version[i]} of" in replica.log() for i in done & orphans)
        assert "Traceback" not in replica.log() and "failed to convert" not in replica.log()
