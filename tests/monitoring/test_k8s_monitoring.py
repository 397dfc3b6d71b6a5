"""infra/k8s/monitoring.py: the PrometheusRule, PodMonitors, NetworkPolicy and dashboard
ConfigMap, as plain manifests (schema, promtool, selectors) and under Pulumi mocks."""

from __future__ import annotations

import asyncio
import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml
from pulumi.runtime import settings as pulumi_settings

from infra.k8s.monitoring import MonitoringArgs, RecommenderMonitoring, monitoring_objects
from infra.k8s.pods import replica_labels, router_labels
from monitoring import promtool as pt
from monitoring.dashboard import UID
from monitoring.rules import ALERT_NAMES
from monitoring.settings import RuleSettings
from tests.infra.harness import StackRun, _Mocks, _Monitor
from tests.infra.stack_checks import K8S_SCHEMA_VERSIONS

ARGS = MonitoringArgs(namespace="recdrill", settings=RuleSettings(zones=("a", "b", "c")))


def _objects(kind: str) -> list[dict[str, Any]]:
    return [o for o in monitoring_objects(ARGS) if o["kind"] == kind]


def _run_component(args: MonitoringArgs) -> StackRun:
    """Registers the component under Pulumi mocks; the loop handling is the harness's."""
    run = StackRun("monitoring", {})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def thread_loop() -> None:
        thread_loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(thread_loops[-1])

    loop.set_default_executor(ThreadPoolExecutor(max_workers=2, initializer=thread_loop))
    try:
        monitor = _Monitor(_Mocks(run))
        pulumi.runtime.set_mocks(
            monitor.mocks, project="recdrill", stack="kube", preview=False, monitor=monitor
        )
        RecommenderMonitoring("recdrill-monitoring", args)
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
    finally:
        pulumi_settings.reset_options()
        loop.run_until_complete(loop.shutdown_default_executor())
        for worker_loop in thread_loops:
            worker_loop.close()
        loop.close()
        asyncio.set_event_loop_policy(None)
    return run


@pytest.fixture(scope="module")
def run() -> StackRun:
    return _run_component(ARGS)


def test_component_registers_every_manifest(run: StackRun) -> None:
    registered = sorted(
        (r.resource_type.split(":")[-1], r.name.removeprefix("recdrill-monitoring-"))
        for r in run.resources
    )
    assert registered == [
        ("ConfigMap", "configmap-recdrill-dashboard"),
        ("NetworkPolicy", "networkpolicy-metrics-from-prometheus"),
        ("PodMonitor", "podmonitor-recdrill-replica"),
        ("PodMonitor", "podmonitor-recdrill-router"),
        ("PrometheusRule", "prometheusrule-recdrill-rules"),
    ]
    [rule] = run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert rule.props["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {r["alert"] for r in rule.props["spec"]["groups"][0]["rules"] if "alert" in r} == set(
        ALERT_NAMES
    )


def test_core_objects_validate_against_the_kubernetes_schema() -> None:
    objects = _objects("ConfigMap") + _objects("NetworkPolicy")
    assert len(objects) == 2
    for obj in objects:
        for version in K8S_SCHEMA_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_schema_check_refuses_a_malformed_configmap() -> None:
    bad = copy.deepcopy(_objects("ConfigMap")[0])
    bad["data"] = {"dashboard.json": {"not": "a string"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_SCHEMA_VERSIONS[0], strict=True)


def test_prometheus_rule_groups_pass_promtool(promtool, tmp_path: Path) -> None:
    [rule] = _objects("PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = pt.check_rules(path)
    assert result.ok, result.output


def test_pod_monitors_select_every_recdrill_pod() -> None:
    selectors = [m["spec"]["selector"]["matchLabels"] for m in _objects("PodMonitor")]
    for labels in (replica_labels("active"), replica_labels("standby"), router_labels()):
        assert sum(sel.items() <= labels.items() for sel in selectors) == 1, labels
    [policy] = _objects("NetworkPolicy")
    [expression] = policy["spec"]["podSelector"]["matchExpressions"]
    for labels in (replica_labels("active"), router_labels()):
        assert labels[expression["key"]] in expression["values"]
    source = policy["spec"]["ingress"][0]["from"][0]
    assert source["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def test_dashboard_configmap_is_found_by_the_grafana_sidecar() -> None:
    [configmap] = _objects("ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert json.loads(configmap["data"][f"{UID}.json"])["uid"] == UID


def test_stack_namespace_and_release_are_settings() -> None:
    args = MonitoringArgs(
        namespace="shop", settings=ARGS.settings, stack_namespace="obs", stack_release="prom"
    )
    objects = monitoring_objects(args)
    by_kind = {o["kind"]: o for o in objects}
    assert by_kind["PrometheusRule"]["metadata"] == {
        "name": "recdrill-rules",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/part-of": "recdrill", "release": "prom"},
    }
    assert by_kind["ConfigMap"]["metadata"]["namespace"] == "obs"


def test_a_region_pair_labels_every_scraped_series_with_its_region() -> None:
    from infra.k8s.monitoring import MonitoringArgs, monitoring_objects

    paired = MonitoringArgs(**{**ARGS.__dict__, "region": "eu-central-1", "region_role": "dr"})
    monitors = [o for o in monitoring_objects(paired) if o["kind"] == "PodMonitor"]
    assert len(monitors) == 2
    for monitor in monitors:
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["relabelings"] == [
            {"action": "replace", "targetLabel": "region", "replacement": "eu-central-1"},
            {"action": "replace", "targetLabel": "region_role", "replacement": "dr"},
        ]
    single = [o for o in monitoring_objects(ARGS) if o["kind"] == "PodMonitor"]
    assert all("relabelings" not in m["spec"]["podMetricsEndpoints"][0] for m in single)
