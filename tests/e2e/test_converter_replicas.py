"""Three converter processes share 30 models; one is killed, the other two take over its share after
LOOP_TAKEOVER_AFTER. Counted at the stub Loop's receive counters: each model's converted format arrives once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from loop_converter.partition import owner, ranking
from loop_converter.records import Records
from loop_testkit.onnx_models import grid_package
from loop_testkit.processes import Service, wait_until
from loop_testkit.received_counts import received
from tests.conftest import ORG, node_env

ROOT = Path(__file__).resolve().parents[2]
PROJECT, MODELS, TAKEOVER = "farm", 30, 20.0  # a survivor converts its own ~10 models well within TAKEOVER


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

    wait_until(all_converted, timeout=120, what="all 30 models in format_b")
    time.sleep(2)  # several more polls of both survivors: nothing is converted again
    listing = received(stub.url, organization=ORG, project=PROJECT)["models"]
    arrivals = {m["model_id"]: m for m in listing if m["format"] == "format_b"}
    assert {i: m["count"] for i, m in arrivals.items()} == dict.fromkeys(ids, 1)

    # at the stub's clock: the survivors converted their own shares at once, the orphans only after the takeover
    created = {m["id"]: m["created"] for m in loop.get(f"/{ORG}/projects/{PROJECT}/models").json()["models"]}
    waited = {i: (datetime.fromisoformat(arrivals[i]["first"]) - datetime.fromisoformat(created[i])).total_seconds()
              for i in ids}
    assert min(waited[i] for i in orphans) >= TAKEOVER, sorted(waited.values())
    assert max(waited[i] for i in ids if i not in orphans) < TAKEOVER, sorted(waited.values())
    # each survivor converted what the ranking gives it (an orphan goes to the second in its ranking), no more
    taker = {i: ranking(key[i], 3)[1] if i in orphans else owner(key[i], 3) for i in ids}
    for index, replica in enumerate(replicas[:2]):
        conversions = httpx.get(f"{replica.url}/conversions").json()["conversions"]
        done = {c["model_id"] for c in conversions if c["status"] == "converted"}
        assert done == {i for i in ids if taker[i] == index}
        assert replica.log().count("taking over model") == len(done & orphans)
        assert "Traceback" not in replica.log() and "failed to convert" not in replica.log()
