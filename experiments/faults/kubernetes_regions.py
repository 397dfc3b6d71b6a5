"""Region loss on a cluster (kubernetes and aws drivers): a drill of the global steering.

On AWS the regions are two stacks (prod, prod-dr) and Route 53 fails the steered name
over when the PRIMARY health check turns unhealthy. That check reads the alarm of a
canary that ``GET``s the primary router's ``/readyz`` through its internal NLB
(infra/aws/steering.py, infra/aws/canary.py); no answer counts as not ready.

Why the fault cuts the routers' client ingress and not the routers' way to the replicas:
a router's ``/readyz`` stays 200 without any upstream once it knows the popular items
(the degraded fallback, serving/router/proxy.py ``ready``), so cutting replicas off would
leave the region healthy in Route 53's eyes while it served popular items. Emptying the
ingress of the stack's ``router-from-clients`` policy makes every router unreachable to
the NLB, the canary and the shop frontends, which is what a lost region looks like to
them, while nothing is deleted and no pod template changes (no rollout outlives the
drill). Kubelet probes come from the node, which NetworkPolicy always allows (Kubernetes
docs, "What you can't do"; the VPC CNI policy agent allows the node IP since v1.15.1),
so the pods stay Ready and are back the moment the policy is restored. NetworkPolicies
add up, so the fault first checks that no other policy lets clients reach the routers.

Scope: the primary region only. The cluster is the one of ``primary_kube_context`` (or
the current context), and the fault refuses unless every node of it carries the
primary's ``topology.kubernetes.io/region``, so it never touches the DR region or
anything outside the stack. The original spec and the context go to the rollback state
file before the patch; the undo checks the region again and restores only a difference.

S3 replication cannot be slowed from outside, so ``slow_replication`` stays refused.
"""

from __future__ import annotations

import os
from typing import Any

from chaosk8s import create_k8s_api_client
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments import state
from experiments.faults.common import setting, state_file, unsupported
from experiments.faults.kubernetes_api import namespace
from experiments.faults.kubernetes_network import restore_policy

__all__ = [
    "REGION_DOWN",
    "region_down",
    "region_up",
    "restore_replication",
    "slow_replication",
    "undo_region_down",
]

REGION_DOWN = "kubernetes.region_down"
ROUTER_POLICY = "router-from-clients"
REGION_LABEL = "topology.kubernetes.io/region"
DRILLED_ROLE = "primary"


def _secrets(context: str | None, secrets: Secrets = None) -> Secrets:
    return {**(secrets or {}), "KUBERNETES_CONTEXT": context} if context else secrets


def _target(role: str, configuration: Configuration, secrets: Secrets) -> dict[str, Any]:
    """The primary region's name, namespace and kube context; refuses anything else."""
    if role != DRILLED_ROLE:
        raise ActivityFailed(
            f"region loss on a cluster drills the primary region's steering only "
            f"(role 'primary'), got role {role!r}: the DR region is where traffic fails over to"
        )
    region = (configuration or {}).get("primary_region")
    if not region:
        raise ActivityFailed(
            "the deployment has no regions: region loss on a cluster needs the DR stack's "
            "description (pulumi stack output --json -s prod-dr), which names the primary region"
        )
    context = (configuration or {}).get("primary_kube_context") or (secrets or {}).get(
        "KUBERNETES_CONTEXT", os.environ.get("KUBERNETES_CONTEXT")
    )
    ns = str((configuration or {}).get("primary_namespace") or namespace(configuration))
    return {"region": str(region), "ns": ns, "context": context or None}


def _check_region(api_client: client.ApiClient, region: str, context: str | None) -> None:
    """Refuse unless every node of this cluster is in ``region``."""
    try:
        nodes = client.CoreV1Api(api_client).list_node().items
    except ApiException as exc:
        raise ActivityFailed(f"cannot list nodes to check the region: {exc.reason}") from exc
    found = sorted({(n.metadata.labels or {}).get(REGION_LABEL, "") for n in nodes})
    if found != [region]:
        raise ActivityFailed(
            f"the cluster of context {context or '(current)'} is not the primary region "
            f"{region}: its nodes' {REGION_LABEL} labels are {found or 'none'}; set "
            "primary_kube_context (or KUBERNETES_CONTEXT) to the primary's cluster"
        )


def _labels(selector: str) -> dict[str, str]:
    return dict(term.split("=", 1) for term in selector.split(",") if "=" in term)


def _may_select(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a policy may select the routers: the router selector names only some of
    their labels, so any policy whose ``matchLabels`` do not contradict it may
    (``matchExpressions``: assumed to)."""
    selector = spec.get("podSelector") or {}
    if selector.get("matchExpressions"):
        return True
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(k, v) == v for k, v in wanted.items())


def _admits_clients(spec: dict[str, Any]) -> bool:
    """Whether an ingress rule lets in anything from outside the pods (an IP or anyone)."""
    if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
        return False
    return any(
        not rule.get("from") or any("ipBlock" in peer for peer in rule["from"])
        for rule in spec.get("ingress") or []
    )


def _router_spec(
    api: client.NetworkingV1Api, ns: str, name: str, router_labels: dict[str, str]
) -> dict[str, Any]:
    """The allowing policy's spec, once no other policy would still admit clients."""
    try:
        found = api.list_namespaced_network_policy(ns).items
    except ApiException as exc:
        raise ActivityFailed(f"cannot list NetworkPolicies in {ns}: {exc.reason}") from exc
    specs = {p.metadata.name: api.api_client.sanitize_for_serialization(p.spec) for p in found}
    if name not in specs:
        raise ActivityFailed(f"NetworkPolicy {ns}/{name} (the routers' client ingress) not found")
    if not _admits_clients(specs[name]):
        raise ActivityFailed(f"NetworkPolicy {ns}/{name} admits no clients: nothing to cut")
    others = sorted(
        other
        for other, spec in specs.items()
        if other != name and _may_select(spec, router_labels) and _admits_clients(spec)
    )
    if others:
        raise ActivityFailed(
            f"NetworkPolicies {others} in {ns} also admit clients to the routers; policies "
            f"add up, so cutting {name} alone would not take the region out of the steering"
        )
    return specs[name]


def region_down(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Take the primary region out of the global steering: its routers answer no client.

    Empties the ingress of ``router_ingress_policy`` (default ``router-from-clients``) in
    the primary's namespace; the readiness canary then gets no answer from ``/readyz``,
    its alarm fires and Route 53 answers with the DR region. Refuses the DR role, a
    deployment without regions, a cluster outside the primary region, and a stack where
    another policy would still let clients in. Recorded before the patch.
    """
    target = _target(role, configuration, secrets)
    ns, context = target["ns"], target["context"]
    name = str(setting(configuration, "router_ingress_policy", ROUTER_POLICY))
    path = state_file(configuration)
    if any(e["params"]["ns"] == ns and e["params"]["name"] == name for e in _pending(path)):
        raise ActivityFailed(
            f"the primary region is already down ({ns}/{name} cut by this drill): region_up first"
        )
    api_client = create_k8s_api_client(_secrets(context, secrets))
    _check_region(api_client, target["region"], context)
    api = client.NetworkingV1Api(api_client)
    labels = _labels(str(setting(configuration, "router_selector")))
    spec = _router_spec(api, ns, name, labels)
    state.record(
        path, REGION_DOWN, ns=ns, name=name, spec=spec, region=target["region"], context=context
    )
    try:
        api.patch_namespaced_network_policy(name, ns, {"spec": {"ingress": []}})
    except ApiException as exc:
        raise ActivityFailed(f"cannot cut NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return {
        "region": target["region"],
        "policy": f"{ns}/{name}",
        "ingress_rules_removed": len(spec.get("ingress") or []),
        "context": context or "(current)",
    }


def _pending(path: str) -> list[dict[str, Any]]:
    return state.pending(path, REGION_DOWN)


def undo_region_down(
    ns: str,
    name: str,
    spec: dict[str, Any],
    region: str,
    context: str | None = None,
    secrets: Secrets = None,
) -> bool:
    """Put the recorded spec back in the recorded cluster; False when it already has it."""
    api_client = create_k8s_api_client(_secrets(context, secrets))
    _check_region(api_client, region, context)
    return restore_policy(client.NetworkingV1Api(api_client), ns, name, spec)


def region_up(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Restore every router ingress policy ``region_down`` cut (idempotent); Route 53
    fails back by itself once the primary's readiness alarm clears."""
    _target(role, configuration, secrets)
    path, restored = state_file(configuration), []
    for entry in _pending(path):  # newest first, the order to undo them in
        if undo_region_down(**entry["params"], secrets=secrets):
            restored.append(f"{entry['params']['ns']}/{entry['params']['name']}")
        state.mark_reverted(path, entry["id"])
    return restored


_NO_SLOWING = (
    "S3 replication cannot be slowed from outside (its lag is AWS's); there the drill of a "
    "late version is the Replication Time Control alarm (15 min), and the local "
    "environment's replicator is the one that can be slowed"
)


def slow_replication(
    lag_s: float = 30.0,
    spread_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Any:
    """Not on a cluster driver: S3 replication cannot be slowed; drill the RTC alarm."""
    unsupported("cluster", "slow_replication", _NO_SLOWING)


def restore_replication(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a cluster driver: replication was never slowed there."""
    unsupported("cluster", "restore_replication", _NO_SLOWING)
