"""Disruption budgets, autoscalers and NetworkPolicies of the recommender."""

from __future__ import annotations

from typing import Any

from infra.k8s.pods import replica_labels, router_labels
from infra.k8s.spec import WorkloadSpec, meta


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


def _hpa(name: str, ns: str, target: str, low: int, high: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(name, ns),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": low,
            "maxReplicas": high,
            # CPU as a proxy for load; GPU utilisation needs the DCGM exporter + an adapter.
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
                "scaleDown": {"stabilizationWindowSeconds": 300},
            },
        },
    }


def policies(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    return [
        _pdb("recdrill-replica-active", ns, replica_labels("active"), maxUnavailable=1),
        _pdb("recdrill-replica-standby", ns, replica_labels("standby"), maxUnavailable=1),
        _pdb("recdrill-router", ns, router_labels(), minAvailable=1),
        _hpa(
            "recdrill-replica-active",
            ns,
            "recdrill-replica-active",
            w.active_replicas,
            w.max_replicas,
        ),
        _hpa("recdrill-router", ns, "recdrill-router", w.router_replicas, 3 * w.router_replicas),
    ]


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
    return [
        _netpol("default-deny", ns, {}, ingress=[], egress=[]),
        _netpol("allow-dns", ns, {}, egress=[dns]),
        _netpol(
            "replicas-from-router",
            ns,
            _REPLICAS,
            ingress=[{"from": [{"podSelector": {"matchLabels": router_labels()}}], "ports": http}],
        ),
        _netpol("replicas-to-store", ns, _REPLICAS, egress=[store]),
        _netpol("router-from-clients", ns, router_labels(), ingress=[{"ports": http}]),
        _netpol(
            "router-to-replicas-and-api",
            ns,
            router_labels(),
            egress=[
                {"to": [{"podSelector": {"matchLabels": _REPLICAS}}], "ports": http},
                # The API server (EndpointSlice discovery) lives outside the pod network.
                {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
            ],
        ),
    ]
