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
    assert "ports" not in detector  # they answer through the balancer (HAProxy)
    assert default(detector["deploy"]["replicas"]) == "3"


def test_nothing_needs_ipvs_no_virtual_ip_and_no_routing_mesh() -> None:
    """Swarm's virtual IPs and ingress ports are IPVS; kernels without it (this machine's) answer neither."""
    for name, service in services.items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert all(port["mode"] == "host" for port in service.get("ports", [])), name


def test_haproxy_publishes_the_detectors_port_on_every_node_and_balances_over_their_tasks() -> None:
    balancer = services["balancer"]
    assert balancer["deploy"]["mode"] == "global"
    assert balancer["ports"][0] == {"target": 8004, "published": "${DETECTOR_PORT:-8004}", "mode": "host"}
    assert balancer["environment"]["DETECTOR_TASKS"] == "tasks.detector:8004"
    slots = int(default(balancer["environment"]["DETECTOR_SLOTS"]))
    assert slots == 16 > int(default(services["detector"]["deploy"]["replicas"]))
    assert default(balancer["image"]) == "loop-nodes/detector-balancer:latest"  # make images builds it
    assert balancer["stop_signal"] == "SIGUSR1"  # HAProxy's soft stop; SIGTERM would cut the connections under way


def test_haproxy_config_finds_checks_sticks_and_redispatches() -> None:
    """The parts of deploy/swarm/haproxy.cfg the Socket.IO sessions and a stopping task depend on (`make images`
    checks the whole file with `haproxy -c`, `make swarm-e2e` runs it)."""
    sections = haproxy_sections()
    assert sections["resolvers docker"]["nameserver"] == ["swarm 127.0.0.11:53"]  # Docker's DNS
    assert sections["defaults"]["option"].count("redispatch 1") == 1
    assert "init-addr none resolvers docker" in sections["defaults"]["default-server"][0]
    assert sections["frontend detectors"]["use_backend"] == ["socketio if { path_beg /ws/socket.io }"]
    for backend in ("rest", "socketio"):
        assert sections[f"backend {backend}"]["server-template"] == ['detector "${DETECTOR_SLOTS}" "${DETECTOR_TASKS}"']
        assert sections[f"backend {backend}"]["option"] == ["httpchk GET /ready"]
    socketio = sections["backend socketio"]
    assert socketio["balance"] == ["source"] and socketio["hash-type"] == ["consistent"]
    assert socketio["stick"] == ["on src"]  # a task that joins takes no client from the others
    assert socketio["cookie"][0].startswith("LOOP_DETECTOR insert indirect nocache")
    monitoring = sections["frontend monitoring"]
    assert monitoring["http-request"] == ["use-service prometheus-exporter if { path /metrics }"]
    assert monitoring["stats"][1] == "uri /stats"


def haproxy_sections() -> dict[str, dict[str, list[str]]]:
    """haproxy.cfg as {section header: {keyword: [the rest of each line with it]}}, comments left out."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (STACK_FILE.parent / "haproxy.cfg").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("log-format") else raw.rstrip()
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        if not raw[0].isspace():
            current = sections.setdefault(line.strip(), {})
        else:
            current.setdefault(keyword, []).append(rest.strip())
    return sections


def test_every_replicated_node_has_a_volume_per_slot() -> None:
    for name in ("detector", "converter", "trainer", "annotator"):
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
