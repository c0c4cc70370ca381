"""deploy/swarm/stack.yml read offline (`make swarm-e2e` runs it): what each replica needs to be told apart and
replaced without a failed request."""

from __future__ import annotations

import re

import yaml

from tests.deploy.swarm import STACK_FILE

stack = yaml.safe_load(STACK_FILE.read_text())
services = stack["services"]


def default(value: str) -> str:
    """The default of a `${NAME:-default}` substitution."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))
    assert match, value
    return match.group(1)


def test_detectors_roll_start_first_with_rollback_and_are_healthy_only_when_ready() -> None:
    detector = services["detector"]
    update = detector["deploy"]["update_config"]
    assert update["order"] == "start-first" and update["failure_action"] == "rollback"
    assert detector["deploy"]["rollback_config"]["order"] == "start-first"
    assert detector["healthcheck"]["test"][-1] == "/ready"
    assert detector["environment"]["LOOP_REPLICA_ID"] == "{{.Task.Slot}}"
    assert detector["ports"] == [{"target": 8004, "published": "${DETECTOR_PORT:-8004}", "mode": "ingress"}]
    assert default(detector["deploy"]["replicas"]) == "3"


def test_every_replicated_node_has_a_volume_per_slot() -> None:
    for name in ("detector", "converter", "trainer"):
        [mount] = services[name]["volumes"]
        assert mount["target"] == "/data"
        assert stack["volumes"][mount["source"]]["name"].endswith(f"-{name}-{{{{.Task.Slot}}}}")


def test_converters_partition_over_as_many_replicas_as_run() -> None:
    converter = services["converter"]
    assert converter["environment"]["LOOP_REPLICA_INDEX"] == "{{.Task.Slot}}"
    assert converter["environment"]["LOOP_REPLICAS"] == converter["deploy"]["replicas"]  # the same variable
    assert services["trainer"]["environment"]["LOOP_NODE_NAME"] == "trainer {{.Task.Slot}}"
    assert "LOOP_PASSWORD" in services["loop"]["environment"]
