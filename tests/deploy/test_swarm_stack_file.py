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
    assert "ports" not in detector  # they answer through the balancer
    assert default(detector["deploy"]["replicas"]) == "3"


def test_nothing_needs_ipvs_no_virtual_ip_and_no_routing_mesh() -> None:
    """Swarm's virtual IPs and ingress ports are IPVS; kernels without it (this machine's) answer neither."""
    for name, service in services.items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert all(port["mode"] == "host" for port in service.get("ports", [])), name


def test_the_balancer_publishes_the_detectors_port_on_every_node_and_balances_over_their_tasks() -> None:
    balancer = services["balancer"]
    assert balancer["deploy"]["mode"] == "global"
    assert balancer["ports"] == [{"target": 8004, "published": "${DETECTOR_PORT:-8004}", "mode": "host"}]
    command = balancer["command"]
    assert command[command.index("--backend") + 1] == "tasks.detector:8004"
    [config] = balancer["configs"]
    assert command[1] == config["target"]
    assert (STACK_FILE.parent / stack["configs"][config["source"]]["file"]).is_file()
    assert balancer["image"] == services["detector"]["image"]  # no image of its own to build or pull


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


def test_the_trainers_run_the_reference_trainer_image() -> None:
    # the trainer base image has no model of its own; TRAINER_IMAGE swaps in an image FROM it with yours
    assert services["trainer"]["image"] == "${TRAINER_IMAGE:-loop-nodes/reference-trainer:latest}"
