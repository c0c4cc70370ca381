"""deploy/k8s: every manifest validated offline against the Kubernetes schemas (kubernetes-validate ships them),
the kustomization rendered, and what the README promises checked in the rendered objects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from loop_detector.metrics import DetectorMetrics
from tests.deploy.kustomize import load_all, render

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.30.0"  # the oldest Kubernetes still maintained when this was written; the schemas are in the wheel
PORTS = {"detector": 8004, "trainer": 8005, "converter": 8006, "annotator": 8007}
# the trainers train with the reference trainer's image (FROM loop-nodes/trainer, which has no model of its own)
IMAGES = {"detector": "loop-nodes/detector", "trainer": "loop-nodes/reference-trainer",
          "converter": "loop-nodes/converter", "annotator": "loop-nodes/annotator"}
NODES = (("StatefulSet", "detector"), ("StatefulSet", "converter"), ("StatefulSet", "trainer"),
         ("StatefulSet", "annotator"))


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in render(K8S)}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    docs = load_all(path)
    assert docs
    for doc in docs:
        if doc["kind"] != "Kustomization":
            kubernetes_validate.validate(doc, VERSION, strict=True)


def test_a_broken_manifest_is_refused() -> None:  # the validation above can fail
    deployment = load_all(K8S / "detector.yaml")[0]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)
    deployment["spec"]["replicas"], deployment["spec"]["replica"] = 2, 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_the_rendered_kustomization_is_valid_and_namespaced(rendered: dict) -> None:
    assert set(rendered) == {("Namespace", "learning-loop"), ("ConfigMap", "loop-config"),
                             ("Secret", "loop-credentials"), ("StatefulSet", "detector"), ("Service", "detector"),
                             ("Service", "detector-pods"),
                             ("HorizontalPodAutoscaler", "detector"), ("PodDisruptionBudget", "detector"),
                             ("StatefulSet", "converter"), ("Service", "converter"), ("StatefulSet", "trainer"),
                             ("Service", "trainer"), ("StatefulSet", "annotator"), ("Service", "annotator")}
    for (kind, _), doc in rendered.items():
        kubernetes_validate.validate(doc, VERSION, strict=True)
        assert kind == "Namespace" or doc["metadata"]["namespace"] == "learning-loop"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "learning-loop-nodes"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_same(rendered: dict) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True, timeout=60)
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    assert theirs == rendered


def test_the_password_is_in_the_secret_only_and_every_node_reads_both(rendered: dict) -> None:
    assert "LOOP_PASSWORD" in rendered[("Secret", "loop-credentials")]["stringData"]
    assert not any("PASSWORD" in k for k in rendered[("ConfigMap", "loop-config")]["data"])
    for kind, name in NODES:
        [container] = containers(rendered[(kind, name)])
        assert container["envFrom"] == [{"configMapRef": {"name": "loop-config"}},
                                        {"secretRef": {"name": "loop-credentials"}}]
        assert env(container)["LOOP_NODE_PORT"] == str(PORTS[name])
        assert container["image"] == f"{IMAGES[name]}:latest"


def test_probes_match_ready_and_health_and_every_pod_runs_as_non_root_with_limits(rendered: dict) -> None:
    for kind, name in NODES:
        doc = rendered[(kind, name)]
        pod = doc["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["startupProbe"]["httpGet"]["port"] == "http"
        assert container["ports"] == [{"name": "http", "containerPort": PORTS[name]}]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert set(container["resources"]) == {"requests", "limits"}
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/data", "/tmp"}
    # the detector gets no traffic before its model is warm: the startup probe asks /ready too
    assert containers(rendered[("StatefulSet", "detector")])[0]["startupProbe"]["httpGet"]["path"] == "/ready"


def test_detectors_scale_on_requests_in_flight_with_cpu_as_fallback(rendered: dict) -> None:
    hpa = rendered[("HorizontalPodAutoscaler", "detector")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "detector"}
    pods, cpu = hpa["metrics"]
    metric = pods["pods"]["metric"]["name"]
    assert cpu["resource"]["name"] == "cpu"
    exported = DetectorMetrics()
    exported.in_flight.labels(route="/detect")
    assert f"# TYPE {metric} gauge" in exported.render().decode()  # the detector exports what the HPA reads
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "rules.yaml").read_text())
    [rule] = adapter["rules"]["custom"]
    assert rule["seriesQuery"].startswith(metric + "{") and rule["name"]["as"] == metric
    selector = rendered[("PodDisruptionBudget", "detector")]["spec"]["selector"]["matchLabels"]
    assert selector == rendered[("StatefulSet", "detector")]["spec"]["selector"]["matchLabels"]
    detector = env(containers(rendered[("StatefulSet", "detector")])[0])
    assert detector["LOOP_REPLICA_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}  # each pod its identity


def test_the_detector_service_keeps_a_client_on_one_pod(rendered: dict) -> None:
    """A Socket.IO session lives in one pod; a polling client's requests come on several connections."""
    spec = rendered[("Service", "detector")]["spec"]
    assert spec["sessionAffinity"] == "ClientIP"
    assert spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] >= 3600


def test_every_node_has_a_stable_ordinal_and_a_volume_of_its_own(rendered: dict) -> None:
    for name, service in (("detector", "detector-pods"), ("converter", "converter"), ("trainer", "trainer"),
                          ("annotator", "annotator")):
        spec = rendered[("StatefulSet", name)]["spec"]
        assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
        assert spec["serviceName"] == service and rendered[("Service", service)]["spec"]["clusterIP"] == "None"
        assert "data" not in {v["name"] for v in spec["template"]["spec"]["volumes"]}  # /data is the claim
    # a detector that goes while the Loop is away leaves its outbox on its volume, kept at a scale-down; the
    # load-balancing Service is not the headless one
    detector = rendered[("StatefulSet", "detector")]["spec"]
    assert detector["persistentVolumeClaimRetentionPolicy"] == {"whenScaled": "Retain", "whenDeleted": "Retain"}
    assert "clusterIP" not in rendered[("Service", "detector")]["spec"]
    converter = rendered[("StatefulSet", "converter")]["spec"]
    settings = env(converter["template"]["spec"]["containers"][0])
    assert settings["LOOP_REPLICA_INDEX"] == {"fieldRef": {"fieldPath": "metadata.name"}}  # converter-N: replica N
    assert settings["LOOP_REPLICAS"] == str(converter["replicas"])
