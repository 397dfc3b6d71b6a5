"""Disruption budgets, autoscalers and NetworkPolicies of the recommender."""

from __future__ import annotations

import math
from typing import Any

from infra.k8s.pods import replica_labels, router_labels
from infra.k8s.spec import RPS_METRIC, WorkloadSpec, active_name, meta


def _pdb(name: str, ns: str, labels: dict[str, str], **budget: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, ns),
        "spec": {
            **budget,
            "selector": {"matchLabels": labels},
            # A crash-looping pod must not block a node drain in a zone evacuation.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def cpu_metric(utilization: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


def rps_metric(per_pod: int) -> dict[str, Any]:
    """Requests per second per replica, from the replicas' own counter through
    prometheus-adapter (infra/k8s/platform.py): a GPU replica saturates long before its
    CPU does, so CPU would scale too late or never."""
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": RPS_METRIC},
            "target": {"type": "AverageValue", "averageValue": str(per_pod)},
        },
    }


def _hpa(
    name: str, ns: str, target: str, low: int, high: int, metric: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(name, ns),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [metric],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
                "scaleDown": {"stabilizationWindowSeconds": 300},
            },
        },
    }


def zone_ceiling(w: WorkloadSpec) -> int:
    """Per-zone HPA ceiling: its share of max_replicas, and enough for the surviving zones
    to carry the peak alone after one zone is lost."""
    zones = len(w.zones)
    share = math.ceil(w.max_replicas / zones)
    survive = math.ceil(w.peak_replicas / max(zones - 1, 1))
    return max(share, survive, w.replicas_per_zone)


def policies(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    replica_metric = rps_metric(w.replica_rps_target) if w.replica_rps_target else cpu_metric(60)
    objects = [
        _pdb("recdrill-replica-active", ns, replica_labels("active"), maxUnavailable=1),
        _pdb("recdrill-replica-standby", ns, replica_labels("standby"), maxUnavailable=1),
        # maxUnavailable, not minAvailable = replicas: a drain must always be able to
        # move one router (config keeps at least 2).
        _pdb("recdrill-router", ns, router_labels(), maxUnavailable=1),
        # The router is a CPU-bound Python proxy: CPU tracks its load (metrics-server).
        _hpa(
            "recdrill-router",
            ns,
            "recdrill-router",
            w.router_replicas,
            3 * w.router_replicas,
            cpu_metric(60),
        ),
    ]
    for zone in w.zones:
        name = active_name(zone)
        objects.append(_hpa(name, ns, name, w.replicas_per_zone, zone_ceiling(w), replica_metric))
    return objects


def _netpol(
    name: str,
    ns: str,
    pods: dict[str, str],
    *,
    ingress: list | None = None,
    egress: list | None = None,
) -> dict[str, Any]:
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": pods} if pods else {},
        "policyTypes": types,
    }
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, ns),
        "spec": spec,
    }


_PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
_REPLICAS = {"app.kubernetes.io/name": "recdrill-replica"}


def network_policies(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    http = [{"protocol": "TCP", "port": "http"}]
    if w.pods.store_endpoint_url:
        # An S3-compatible store inside the cluster or LAN (kube stack): its port, anywhere.
        store = {"ports": [{"protocol": "TCP", "port": w.store_egress_port}]}
    else:
        # S3 (through the VPC gateway endpoint) and STS for IRSA: public AWS addresses, 443.
        store = {
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": _PRIVATE}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        }
    inside = (
        [{"ipBlock": {"cidr": cidr}} for cidr in w.cluster_cidrs]
        if w.cluster_cidrs
        else [{"ipBlock": {"cidr": cidr}} for cidr in _PRIVATE[:3]]
    )
    # Clients reach the router through the internal NLB (IP targets): from the VPC only.
    clients = [{"from": inside, "ports": http}] if w.cluster_cidrs else [{"ports": http}]
    objects = [
        _netpol("default-deny", ns, {}, ingress=[], egress=[]),
        _netpol("allow-dns", ns, {}, egress=[dns]),
        _netpol(
            "replicas-from-router",
            ns,
            _REPLICAS,
            ingress=[{"from": [{"podSelector": {"matchLabels": router_labels()}}], "ports": http}],
        ),
        _netpol("replicas-to-store", ns, _REPLICAS, egress=[store]),
        _netpol("router-from-clients", ns, router_labels(), ingress=clients),
        _netpol(
            "router-to-replicas-and-api",
            ns,
            router_labels(),
            egress=[
                {"to": [{"podSelector": {"matchLabels": _REPLICAS}}], "ports": http},
                # The API server (EndpointSlice discovery): its ENIs are in the VPC and
                # its Service IP in the Service CIDR; nothing outside them.
                {
                    "to": inside,
                    "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
                },
            ],
        ),
    ]
    # Prometheus' scrape access is RecommenderMonitoring's (infra/k8s/monitoring.py):
    # from the Prometheus pods only, to replicas and routers alike.
    return objects
