"""Monitoring invariant: every EKS stack deploys the recommender's alert rules where its
own kube-prometheus-stack loads them, and the HPA's adapter reads that Prometheus.

A PrometheusRule labelled for a release that is not installed is accepted by the API
server and never evaluated: a zone-loss drill would then pass with no alert ever firing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.policy.view import (
    Resources,
    active_deployments,
    helm_releases,
    k8s_objects,
    of_type,
)

STACK_CHART = "kube-prometheus-stack"


def _alerts(rule: Mapping[str, Any]) -> list[str]:
    groups = (rule.get("spec") or {}).get("groups") or []
    return [r["alert"] for g in groups for r in g.get("rules") or [] if "alert" in r]


def _prometheus_host(release: Mapping[str, Any]) -> str:
    """The Service kube-prometheus-stack gives its Prometheus (fullnameOverride, else the
    release name, which contains the chart's name here)."""
    base = (release.get("values") or {}).get("fullnameOverride") or release.get("name")
    return f"{base}-prometheus.{release.get('namespace')}.svc"


def alert_rules_deployed(resources: Resources) -> list[str]:
    """EKS: kube-prometheus-stack installed, a PrometheusRule with alerts selected by its
    release label, PodMonitors for the pods, and prometheus-adapter reading it."""
    # Phase one of a bring-up (deploy_workloads false) has nothing to alert on yet.
    if not of_type(resources, "aws:eks/cluster:Cluster") or not active_deployments(resources):
        return []
    stacks = helm_releases(resources, STACK_CHART)
    if not stacks:
        return ["EKS stack without kube-prometheus-stack: nothing evaluates the alert rules"]
    names = {s.get("name") for s in stacks}
    problems = []
    rules = [r for r in k8s_objects(resources, "PrometheusRule") if _alerts(r)]
    if not rules:
        problems.append("no PrometheusRule with alert rules: the drill's alerts are not deployed")
    for rule in rules:
        release = (rule["metadata"].get("labels") or {}).get("release")
        if release not in names:
            problems.append(
                f"PrometheusRule {rule['metadata']['name']}: label release={release!r} "
                f"selects no installed kube-prometheus-stack ({sorted(map(str, names))})"
            )
    if not k8s_objects(resources, "PodMonitor"):
        problems.append("no PodMonitor: Prometheus scrapes no recdrill pod, no alert can fire")
    hosts = {_prometheus_host(s) for s in stacks}
    for adapter in helm_releases(resources, "prometheus-adapter"):
        url = str(((adapter.get("values") or {}).get("prometheus") or {}).get("url", ""))
        if url.split("://", 1)[-1].split(":", 1)[0] not in hosts:
            problems.append(
                f"prometheus-adapter reads {url!r}, not the stack's Prometheus ({sorted(hosts)})"
            )
    return problems
