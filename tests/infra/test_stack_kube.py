"""kube: workloads only, into the current kube context; no AWS resource at all."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.infra import stack_checks
from tests.infra.harness import StackRun, run_stack


@pytest.fixture(scope="module")
def run() -> StackRun:
    return run_stack("kube")


def test_creates_no_aws_resources(run: StackRun) -> None:
    assert [r.resource_type for r in run.resources if r.resource_type.startswith("aws:")] == []
    assert {r.resource_type.split(":")[0] for r in run.resources} == {"kubernetes"}


def test_store_url_and_endpoint_come_from_config(run: StackRun) -> None:
    assert run.outputs["model_store"] == {
        "url": "s3://recdrill-models/models",
        "dr_url": None,
        "model": "recommender",
    }
    pod = stack_checks.active(run, "kind-a")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["RECDRILL_S3_ENDPOINT_URL"] == "http://minio.minio.svc.cluster.local:9000"
    command = pod["containers"][0]["command"]
    assert command[command.index("--store") + 1] == "s3://recdrill-models/models"
    assert pod["containers"][0]["image"] == "recdrill:dev"
    (store_egress,) = [p["spec"] for p in run.k8s("NetworkPolicy", "replicas-to-store")]
    assert store_egress["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_cpu_only_no_gpu_plumbing(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=0)
    assert run.k8s("DaemonSet") == []
    names = {d["metadata"]["name"] for d in run.k8s("Deployment")}
    assert names == {
        "recdrill-replica-active-kind-a",
        "recdrill-replica-active-kind-b",
        "recdrill-replica-active-kind-c",
        "recdrill-replica-standby",
        "recdrill-router",
    }


def test_no_irsa_annotation_without_aws(run: StackRun) -> None:
    for account in run.k8s("ServiceAccount"):
        assert "annotations" not in account["metadata"]


def test_workloads_and_description(run: StackRun) -> None:
    stack_checks.assert_policies(run)
    stack_checks.assert_description(run)
    assert run.outputs["environment"] == "kube"


def test_router_can_be_drained(run: StackRun) -> None:
    """Two routers and maxUnavailable 1: a drain moves one, the other keeps serving."""
    assert stack_checks.deployment(run, "recdrill-router")["spec"]["replicas"] == 2
    (pdb,) = run.k8s("PodDisruptionBudget", "recdrill-router")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


def test_cpu_replicas_scale_on_cpu_without_an_adapter(run: StackRun) -> None:
    (hpa,) = run.k8s("HorizontalPodAutoscaler", "recdrill-replica-active-kind-a")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (egress,) = run.k8s("NetworkPolicy", "router-to-replicas-and-api")
    api = egress["spec"]["egress"][1]
    assert [p["ipBlock"]["cidr"] for p in api["to"]] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]


def test_manifests_validate_against_kubernetes_schema(run: StackRun) -> None:
    # Everything but the operator kinds (PrometheusRule, two PodMonitors).
    assert stack_checks.validate_manifests(run) == len(run.resources) - 3


def test_monitoring_goes_into_the_clusters_existing_kube_prometheus_stack(
    run: StackRun,
) -> None:
    """kube installs no Helm chart: the rules carry the configured release label and the
    dashboard goes to the configured namespace of the stack that is already there."""
    assert not run.of_type("kubernetes:helm.sh/v3:Release")
    (rule,) = run.k8s("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {m["metadata"]["labels"]["release"] for m in run.k8s("PodMonitor")} == {
        "kube-prometheus-stack"
    }
    (dashboard,) = run.k8s("ConfigMap", "recdrill-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"


def test_monitoring_follows_the_configured_release_or_is_left_out() -> None:
    elsewhere = run_stack(
        "kube",
        {"recdrill:monitoring_release": "prom", "recdrill:monitoring_namespace": "observability"},
    )
    (rule,) = elsewhere.k8s("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    (dashboard,) = elsewhere.k8s("ConfigMap", "recdrill-dashboard")
    assert dashboard["metadata"]["namespace"] == "observability"
    (scrape,) = elsewhere.k8s("NetworkPolicy", "metrics-from-prometheus")
    assert scrape["spec"]["ingress"][0]["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "observability"}
    }
    without = run_stack("kube", {"recdrill:monitoring": False})
    assert not without.k8s("PrometheusRule") and not without.k8s("PodMonitor")


def test_invariants_hold(run: StackRun) -> None:
    stack_checks.assert_invariants_hold(run)


def test_schema_validation_rejects_an_unknown_field(run: StackRun) -> None:
    bad = copy.deepcopy(stack_checks.deployment(run, "recdrill-router"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, stack_checks.K8S_SCHEMA_VERSIONS[0], strict=True)
