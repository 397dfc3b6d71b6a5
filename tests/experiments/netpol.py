"""A small evaluator of NetworkPolicy semantics, to check what a fault really blocks.

Policies add up: a pod selected by no egress (ingress) policy may send (receive)
anything; a pod selected by one or more only what at least one of their rules allows. No
rule of one policy can take away what another allows. Covers what the stack uses: pod and
namespace selectors with ``matchLabels``, ``ipBlock`` with ``except``, numeric and named
ports. (Traffic from the pod's own node, kubelet probes, is always allowed: not modelled.)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Peer:
    """Where a connection goes: an IP, or a pod (labels) in a namespace (labels)."""

    port: int
    ip: str = ""
    port_name: str = ""
    pod_labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    protocol: str = "TCP"


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _peer_allowed(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        if not peer.ip:
            return False
        ip = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        inside = ip in ipaddress.ip_network(block["cidr"])
        return inside and not any(ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if peer.ip and not peer.pod_labels:
        return False
    pods_ok = "podSelector" not in rule_peer or _matches(rule_peer["podSelector"], peer.pod_labels)
    ns_ok = "namespaceSelector" not in rule_peer or _matches(
        rule_peer["namespaceSelector"], peer.namespace_labels
    )
    return pods_ok and ns_ok


def _rule_allows(rule: dict[str, Any], peer: Peer, direction: str = "to") -> bool:
    ports = rule.get("ports") or []
    port_ok = not ports or any(
        p.get("port") in (peer.port, peer.port_name or None)
        and p.get("protocol", "TCP") == peer.protocol
        for p in ports
    )
    peers = rule.get(direction) or []
    return port_ok and (not peers or any(_peer_allowed(p, peer) for p in peers))


def egress_allowed(
    policies: list[dict[str, Any]], namespace: str, pod_labels: dict[str, str], peer: Peer
) -> bool:
    """May a pod with ``pod_labels`` in ``namespace`` open a connection to ``peer``?"""
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", namespace) == namespace
        and "Egress" in p["spec"].get("policyTypes", [])
        and _matches(p["spec"].get("podSelector"), pod_labels)
    ]
    if not selecting:
        return True
    return any(_rule_allows(r, peer) for p in selecting for r in p["spec"].get("egress") or [])


def ingress_allowed(
    policies: list[dict[str, Any]], namespace: str, pod_labels: dict[str, str], peer: Peer
) -> bool:
    """May ``peer`` open a connection to a pod with ``pod_labels`` in ``namespace``?"""
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", namespace) == namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and _matches(p["spec"].get("podSelector"), pod_labels)
    ]
    if not selecting:
        return True
    return any(
        _rule_allows(r, peer, "from") for p in selecting for r in p["spec"].get("ingress") or []
    )
