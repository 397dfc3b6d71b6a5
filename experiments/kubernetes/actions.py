"""Kubernetes faults with the same verbs as ``experiments.local.actions``.

Zone loss is modelled as power loss, not maintenance: the zone's nodes are cordoned and
the recommender pods on them are force-deleted with grace 0. Eviction (``drain_nodes``)
would honour PodDisruptionBudgets, which a real outage does not. Store outage is a
deny-egress NetworkPolicy on the replicas. Each fault records itself in the rollback
state file first; each undo is idempotent.
"""

from __future__ import annotations

from typing import Any

from chaosk8s import create_k8s_api_client
from chaosk8s.node.actions import uncordon_node
from chaosk8s.pod.actions import terminate_pods
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments import state
from experiments.store.actions import corrupt_model, restore_model

__all__ = [
    "corrupt_model",
    "kill_replicas",
    "restore_model",
    "restore_store",
    "store_outage",
    "zone_down",
    "zone_up",
]

ZONE_DOWN = "kubernetes.zone_down"
STORE_OUTAGE = "kubernetes.store_outage"
OUTAGE_POLICY = "recdrill-chaos-store-outage"


def _core(secrets: Secrets) -> client.CoreV1Api:
    return client.CoreV1Api(create_k8s_api_client(secrets))


def _match_labels(label_selector: str) -> dict[str, str]:
    labels = {}
    for term in filter(None, (t.strip() for t in label_selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or "!" in key:
            raise ActivityFailed(f"selector term {term!r} is not of the form key=value")
        labels[key.strip()] = value.lstrip("=").strip()
    return labels


def kill_replicas(
    label_selector: str,
    ns: str = "recdrill",
    count: int = 1,
    grace_period: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Delete ``count`` random recommender pods matching ``label_selector`` (grace 0).

    Uses ``chaosk8s.pod.actions.terminate_pods``; the ReplicaSet replaces them.
    """
    deleted = terminate_pods(
        label_selector=label_selector,
        ns=ns,
        qty=count,
        rand=True,
        grace_period=grace_period,
        secrets=secrets,
    )
    if not deleted:
        raise ActivityFailed(f"no pod in namespace {ns} matches {label_selector!r}")
    return deleted


def zone_down(
    zone: str,
    label_selector: str,
    state_file: str,
    ns: str = "recdrill",
    zone_label: str = "topology.kubernetes.io/zone",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Lose a zone like a power cut: cordon its nodes, force-delete the pods on them.

    Nodes are those labelled ``zone_label=zone``. Only pods matching ``label_selector``
    on those nodes are deleted, with grace period 0 and no eviction (PDBs do not apply).
    ``zone_up`` uncordons the nodes.
    """
    v1 = _core(secrets)
    try:
        nodes = [n.metadata.name for n in v1.list_node(label_selector=f"{zone_label}={zone}").items]
    except ApiException as exc:
        raise ActivityFailed(f"cannot list the nodes of zone {zone}: {exc.reason}") from exc
    if not nodes:
        raise ActivityFailed(f"no node is labelled {zone_label}={zone}")
    state.record(state_file, ZONE_DOWN, zone=zone, zone_label=zone_label, nodes=nodes)
    deleted = []
    for node in nodes:
        try:
            v1.patch_node(node, {"spec": {"unschedulable": True}})
            pods = v1.list_namespaced_pod(
                ns, label_selector=label_selector, field_selector=f"spec.nodeName={node}"
            ).items
        except ApiException as exc:
            raise ActivityFailed(f"cannot cordon node {node}: {exc.reason}") from exc
        for pod in pods:
            try:
                v1.delete_namespaced_pod(
                    pod.metadata.name, ns, body=client.V1DeleteOptions(grace_period_seconds=0)
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise ActivityFailed(
                        f"cannot delete pod {ns}/{pod.metadata.name}: {exc.reason}"
                    ) from exc
            deleted.append(pod.metadata.name)
    return {"zone": zone, "nodes": nodes, "pods": deleted}


def zone_up(
    zone: str,
    state_file: str,
    zone_label: str = "topology.kubernetes.io/zone",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Uncordon the zone's nodes (``chaosk8s.node.actions.uncordon_node``); idempotent."""
    uncordoned = uncordon_node(label_selector=f"{zone_label}={zone}", secrets=secrets)
    for entry in state.pending(state_file, ZONE_DOWN):
        if entry["params"]["zone"] == zone:
            state.mark_reverted(state_file, entry["id"])
    return uncordoned


def undo_zone_down(zone: str, zone_label: str, nodes: list[str]) -> list[str]:
    """Uncordon the recorded nodes by name (used by ``python -m experiments rollback``)."""
    return [name for node in nodes for name in uncordon_node(name=node)]


def store_outage(
    label_selector: str,
    state_file: str,
    ns: str = "recdrill",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Cut the replicas off the model store with a deny-egress NetworkPolicy.

    Pods matching ``label_selector`` may still resolve names (DNS, port 53) but reach
    nothing else. ``restore_store`` deletes the policy.
    """
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": OUTAGE_POLICY,
            "namespace": ns,
            "labels": {"app.kubernetes.io/managed-by": "recdrill-chaos"},
        },
        "spec": {
            "podSelector": {"matchLabels": _match_labels(label_selector)},
            "policyTypes": ["Egress"],
            "egress": [
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
            ],
        },
    }
    state.record(state_file, STORE_OUTAGE, ns=ns, name=OUTAGE_POLICY)
    api = client.NetworkingV1Api(create_k8s_api_client(secrets))
    try:
        api.create_namespaced_network_policy(ns, body)
    except ApiException as exc:
        if exc.status != 409:
            raise ActivityFailed(
                f"cannot create NetworkPolicy {ns}/{OUTAGE_POLICY}: {exc.reason}"
            ) from exc
    return OUTAGE_POLICY


def undo_store_outage(ns: str, name: str, secrets: Secrets = None) -> bool:
    """Delete the outage NetworkPolicy; False when it was already gone."""
    api = client.NetworkingV1Api(create_k8s_api_client(secrets))
    try:
        api.delete_namespaced_network_policy(name, ns)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise ActivityFailed(f"cannot delete NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return True


def restore_store(
    state_file: str,
    ns: str = "recdrill",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Delete the store-outage NetworkPolicy (idempotent)."""
    removed = undo_store_outage(ns, OUTAGE_POLICY, secrets)
    for entry in state.pending(state_file, STORE_OUTAGE):
        state.mark_reverted(state_file, entry["id"])
    return removed
