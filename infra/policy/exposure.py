"""Exposure invariants: the router is reachable only from inside the VPC, its egress
stays there, and only pods that call the API server get a ServiceAccount token."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from infra.policy.view import (
    Resources,
    display_name,
    helm_releases,
    k8s_objects,
    pod_spec,
)

SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
_PRIVATE = [ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def _private(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr)
    return any(network.subnet_of(p) for p in _PRIVATE)


def router_not_public(resources: Resources) -> list[str]:
    """LoadBalancer Services are internal (and the controller that reads the annotation
    is installed) or limited by loadBalancerSourceRanges to private ranges."""
    problems = []
    on_eks = bool([r for r in resources if r.resource_type == "aws:eks/cluster:Cluster"])
    for service in k8s_objects(resources, "Service"):
        spec = service["spec"]
        if spec.get("type") != "LoadBalancer":
            continue
        annotations = service["metadata"].get("annotations") or {}
        ranges = list(spec.get("loadBalancerSourceRanges") or [])
        internal = annotations.get(SCHEME) == "internal"
        limited = bool(ranges) and all(_private(r) for r in ranges)
        if on_eks and not (internal or limited):
            problems.append(
                f"{display_name(service)}: an internet-facing load balancer; its /metrics "
                "and /v1/upstreams would be public"
            )
        if internal and on_eks and not helm_releases(resources, "aws-load-balancer-controller"):
            problems.append(
                f"{display_name(service)}: load balancer annotations without the AWS Load "
                "Balancer Controller installed do nothing"
            )
    return problems


def _egress_targets(policy: Mapping[str, Any]) -> list[list[Mapping[str, Any]] | None]:
    return [rule.get("to") for rule in policy["spec"].get("egress") or []]


def router_egress_inside(resources: Resources) -> list[str]:
    """Every egress rule of the router names its peers: pods, or private address blocks."""
    problems = []
    for policy in k8s_objects(resources, "NetworkPolicy"):
        selector = (policy["spec"].get("podSelector") or {}).get("matchLabels") or {}
        if selector.get("app.kubernetes.io/name") != "recdrill-router":
            continue
        for peers in _egress_targets(policy):
            if not peers:
                problems.append(f"{display_name(policy)}: an egress rule to anywhere")
                continue
            for peer in peers:
                block = peer.get("ipBlock")
                if block and not _private(block["cidr"]):
                    problems.append(
                        f"{display_name(policy)}: egress to {block['cidr']} leaves the VPC"
                    )
    return problems


def _bound_accounts(resources: Resources) -> set[tuple[str, str]]:
    bound = set()
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for binding in k8s_objects(resources, kind):
            for subject in binding.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    bound.add((subject.get("namespace", ""), subject["name"]))
    return bound


def tokens_only_where_needed(resources: Resources) -> list[str]:
    """Pods whose ServiceAccount has no RBAC binding set automountServiceAccountToken:
    false: a token they never use is only something to steal."""
    bound = _bound_accounts(resources)
    problems = []
    for kind in ("Deployment", "DaemonSet", "StatefulSet"):
        for workload in k8s_objects(resources, kind):
            spec: Mapping[str, Any] = pod_spec(workload)
            namespace = workload["metadata"].get("namespace", "")
            account = spec.get("serviceAccountName", "default")
            if (namespace, account) in bound:
                continue
            if spec.get("automountServiceAccountToken") is not False:
                problems.append(
                    f"{display_name(workload)}: mounts a ServiceAccount token it has no "
                    "RBAC use for"
                )
    return problems
