"""Kubernetes faults (chaosk8s style) with the same verbs as the other drivers.

Zone loss is power loss, not maintenance: the zone's nodes are cordoned and tainted
``NoExecute``, and every recdrill pod on them (active, standby, router) is deleted with
grace 0, no eviction, so PodDisruptionBudgets do not apply. Store outage edits the
stack's own allowing policy (``replicas-to-store``), because NetworkPolicies add up: a
new deny policy would take nothing away. Each fault records what it changed (the
original policy spec, the nodes it cordoned) in the rollback state file first.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from chaosk8s import create_k8s_api_client
from chaosk8s.pod.actions import terminate_pods
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments import state
from experiments.faults.common import setting, state_file, store_driver, unsupported
from experiments.probes.capacity import shortfall

__all__ = [
    "corrupt_model",
    "freeze_replicas",
    "kill_replicas",
    "ready_capacity",
    "restart_replicas",
    "restore_model",
    "restore_store",
    "store_outage",
    "thaw_replicas",
    "wait_for_capacity",
    "wait_for_replacement",
    "wait_for_zone_return",
    "zone_down",
    "zone_up",
]

ZONE_DOWN = "kubernetes.zone_down"
STORE_CUT = "kubernetes.store_policy_cut"
KILLED = "kubernetes.killed"
STORE_POLICY = "replicas-to-store"
ZONE_TAINT = {"key": "recdrill.io/zone-down", "value": "chaos", "effect": "NoExecute"}
POLL_S = 2.0
_NO_SIGSTOP = "the Kubernetes API cannot pause a container (SIGSTOP); slow-replica is local only"


def _pause(timeout_s: float) -> None:
    """Poll every 2 s, or more often when the whole wait is short."""
    time.sleep(min(POLL_S, max(0.05, float(timeout_s) / 10)))


def _core(secrets: Secrets) -> client.CoreV1Api:
    return client.CoreV1Api(create_k8s_api_client(secrets))


def _ns(configuration: Configuration) -> str:
    return str(setting(configuration, "namespace", "recdrill"))


def _zone_label(configuration: Configuration) -> str:
    return str(setting(configuration, "zone_label", "topology.kubernetes.io/zone"))


def _is_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp or (pod.status.phase or "") != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _pods(v1: client.CoreV1Api, ns: str, selector: str, node: str | None = None) -> list[Any]:
    fields = f"spec.nodeName={node}" if node else None
    try:
        kwargs = {"label_selector": selector, **({"field_selector": fields} if fields else {})}
        return v1.list_namespaced_pod(ns, **kwargs).items
    except ApiException as exc:
        raise ActivityFailed(f"cannot list pods {selector!r} in {ns}: {exc.reason}") from exc


def kill_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Delete ``count`` random pods matching ``selector`` with grace 0.

    Their ReplicaSet replaces them; ``wait_for_replacement`` waits for that.
    """
    ns = _ns(configuration)
    before = sum(_is_ready(p) for p in _pods(_core(secrets), ns, selector))
    deleted = terminate_pods(
        label_selector=selector, ns=ns, qty=count, rand=True, grace_period=0, secrets=secrets
    )
    if not deleted:
        raise ActivityFailed(f"no pod in namespace {ns} matches {selector!r}")
    state.note(
        state_file(configuration), KILLED, victims=deleted, selector=selector, ready_before=before
    )
    return deleted


def wait_for_replacement(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until the pods the last kill deleted are gone and as many pods are ready again."""
    notes = state.notes(state_file(configuration), KILLED)
    if not notes:
        raise ActivityFailed("no kill recorded in the state file: nothing to wait for")
    victims, selector = set(notes[0]["params"]["victims"]), notes[0]["params"]["selector"]
    wanted = int(notes[0]["params"]["ready_before"])
    ns, v1, started = _ns(configuration), _core(secrets), time.monotonic()
    while True:
        pods = _pods(v1, ns, selector)
        left = sorted(victims & {p.metadata.name for p in pods})
        ready = sum(_is_ready(p) for p in pods)
        took = time.monotonic() - started
        if not left and ready >= wanted:
            return {"ready": ready, "replaced_after_s": round(took, 2)}
        if took >= float(timeout_s):
            raise ActivityFailed(
                f"not replaced within {float(timeout_s):.0f} s: {ready}/{wanted} ready, "
                f"still there: {left}"
            )
        _pause(timeout_s)


def freeze_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on Kubernetes: the API cannot SIGSTOP a container."""
    unsupported("kubernetes", "freeze_replicas", _NO_SIGSTOP)


def thaw_replicas(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on Kubernetes: nothing was frozen."""
    unsupported("kubernetes", "thaw_replicas", _NO_SIGSTOP)


def restart_replicas(
    selector: str,
    count: int = 0,
    wait_ready: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Delete ``count`` pods matching ``selector`` (0: all) one at a time, gracefully.

    With ``wait_ready`` each replacement must be ready (as many ready pods as before)
    within the RTO before the next pod goes, or the action fails.
    """
    ns, v1 = _ns(configuration), _core(secrets)
    pods = _pods(v1, ns, selector)
    chosen = [p.metadata.name for p in pods][: count or None]
    if not chosen:
        raise ActivityFailed(f"no pod in namespace {ns} matches {selector!r}")
    timeout_s = float(setting(configuration, "slo_rto_s", 300.0))
    for name in chosen:
        before = sum(_is_ready(p) for p in _pods(v1, ns, selector))
        try:
            v1.delete_namespaced_pod(name, ns)
        except ApiException as exc:
            raise ActivityFailed(f"cannot delete pod {ns}/{name}: {exc.reason}") from exc
        if wait_ready:
            state.note(
                state_file(configuration), KILLED, victims=[name], selector=selector,
                ready_before=before,
            )  # fmt: skip
            wait_for_replacement(timeout_s, configuration, secrets)
    return chosen


def _zone_nodes(v1: client.CoreV1Api, zone: str, zone_label: str) -> list[Any]:
    try:
        nodes = v1.list_node(label_selector=f"{zone_label}={zone}").items
    except ApiException as exc:
        raise ActivityFailed(f"cannot list the nodes of zone {zone}: {exc.reason}") from exc
    if not nodes:
        raise ActivityFailed(f"no node is labelled {zone_label}={zone}")
    return nodes


def _taints(node: Any) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in (("key", t.key), ("value", t.value), ("effect", t.effect)) if v}
        for t in node.spec.taints or []
    ]


def _patch_node(v1: client.CoreV1Api, name: str, spec: dict[str, Any]) -> None:
    try:
        v1.patch_node(name, {"spec": spec})
    except ApiException as exc:
        raise ActivityFailed(f"cannot patch node {name}: {exc.reason}") from exc


def zone_down(
    zone: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Lose a zone like a power cut: cordon and taint its nodes, force-delete its pods.

    Nodes are those labelled ``zone_label=zone``. Every pod on them matching the
    active, standby or router selector is deleted with grace 0 and no eviction; the
    ``NoExecute`` taint keeps anything from running there until ``zone_up``.
    """
    v1, ns, label = _core(secrets), _ns(configuration), _zone_label(configuration)
    nodes = _zone_nodes(v1, zone, label)
    cordoned = [n.metadata.name for n in nodes if not n.spec.unschedulable]
    names = [n.metadata.name for n in nodes]
    state.record(state_file(configuration), ZONE_DOWN, zone=zone, nodes=names, cordoned=cordoned)
    config = configuration or {}
    selectors = [config.get(k) for k in ("active_selector", "standby_selector", "router_selector")]
    deleted: list[str] = []
    for node in nodes:
        taints = [t for t in _taints(node) if t["key"] != ZONE_TAINT["key"]] + [ZONE_TAINT]
        _patch_node(v1, node.metadata.name, {"unschedulable": True, "taints": taints})
        for selector in filter(None, selectors):
            for pod in _pods(v1, ns, str(selector), node.metadata.name):
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
    return {"zone": zone, "nodes": names, "pods": sorted(set(deleted))}


def undo_zone_down(
    zone: str, nodes: list[str], cordoned: list[str], secrets: Secrets = None
) -> list[str]:
    """Remove exactly what ``zone_down`` added: its taint, and the cordon where it set one."""
    v1, restored = _core(secrets), []
    for name in nodes:
        try:
            node = v1.read_node(name)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise ActivityFailed(f"cannot read node {name}: {exc.reason}") from exc
        spec: dict[str, Any] = {
            "taints": [t for t in _taints(node) if t["key"] != ZONE_TAINT["key"]]
        }
        if name in cordoned:
            spec["unschedulable"] = False
        _patch_node(v1, name, spec)
        restored.append(name)
    return restored


def zone_up(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Untaint and uncordon the nodes ``zone_down`` took (idempotent)."""
    path, restored = state_file(configuration), []
    for entry in state.pending(path, ZONE_DOWN):
        if entry["params"]["zone"] == zone:
            restored += undo_zone_down(**entry["params"], secrets=secrets)
            state.mark_reverted(path, entry["id"])
    return restored


def wait_for_zone_return(
    zone: str, timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until the zone's nodes take pods again and every active replica is ready.

    Kubernetes does not move replicas back to an uncordoned zone (nothing evicts them
    from where they were rescheduled), so this checks what it really does: the zone is
    schedulable again and the total active capacity is back, wherever it runs.
    """
    v1, label = _core(secrets), _zone_label(configuration)
    selector = str(setting(configuration, "active_selector"))
    total = int(setting(configuration, "active_replicas"))
    started = time.monotonic()
    while True:
        blocked = [
            n.metadata.name
            for n in _zone_nodes(v1, zone, label)
            if n.spec.unschedulable or any(t["key"] == ZONE_TAINT["key"] for t in _taints(n))
        ]
        capacity = ready_capacity(selector, configuration, secrets)
        took = time.monotonic() - started
        short = shortfall(capacity, 0, total)
        if not blocked and not short:
            return {**capacity, "zone": zone, "returned_after_s": round(took, 2)}
        if took >= float(timeout_s):
            raise ActivityFailed(
                f"zone {zone} not back within {float(timeout_s):.0f} s: "
                f"{short or f'nodes still cordoned or tainted: {blocked}'}"
            )
        _pause(timeout_s)


def _networking(secrets: Secrets) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(create_k8s_api_client(secrets))


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Cut the replicas off the model store by emptying the stack's allowing egress policy.

    Policies add up, so only removing the allowing rule takes the store away. The
    original spec of ``store_policy`` (default ``replicas-to-store``) is kept in the
    state file; ``restore_store`` puts it back. DNS stays allowed by ``allow-dns``.
    """
    ns = _ns(configuration)
    name = str(setting(configuration, "store_policy", STORE_POLICY))
    api = _networking(secrets)
    try:
        original = api.read_namespaced_network_policy(name, ns)
    except ApiException as exc:
        raise ActivityFailed(f"cannot read NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    spec = api.api_client.sanitize_for_serialization(original.spec)
    if "Egress" not in spec.get("policyTypes", []):
        raise ActivityFailed(f"NetworkPolicy {ns}/{name} has no egress rules to cut")
    state.record(state_file(configuration), STORE_CUT, ns=ns, name=name, spec=spec)
    try:
        api.patch_namespaced_network_policy(name, ns, {"spec": {"egress": []}})
    except ApiException as exc:
        raise ActivityFailed(f"cannot cut NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return {"policy": f"{ns}/{name}", "egress_rules_removed": len(spec.get("egress") or [])}


def undo_store_cut(ns: str, name: str, spec: dict[str, Any], secrets: Secrets = None) -> bool:
    """Put the recorded spec back; False when the policy already has it."""
    api = _networking(secrets)
    try:
        current = api.read_namespaced_network_policy(name, ns)
        if api.api_client.sanitize_for_serialization(current.spec) == spec:
            return False
        api.patch_namespaced_network_policy(name, ns, {"spec": spec})
    except ApiException as exc:
        raise ActivityFailed(f"cannot restore NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return True


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every egress policy ``store_outage`` cut (idempotent)."""
    path, restored = state_file(configuration), []
    for entry in state.pending(path, STORE_CUT):
        if undo_store_cut(**entry["params"], secrets=secrets):
            restored.append(f"{entry['params']['ns']}/{entry['params']['name']}")
        state.mark_reverted(path, entry["id"])
    return restored


def corrupt_model(
    version: str = "stable",
    file: str = "model.safetensors",
    mode: str = "silent",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Corrupt one file of a model version in the store (see the store drivers)."""
    return store_driver(configuration).corrupt_model(version, file, mode, configuration, secrets)


def restore_model(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every model file a corruption changed (idempotent)."""
    return store_driver(configuration).restore_model(configuration, secrets)


def ready_capacity(
    selector: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Ready pods matching ``selector`` per zone (the zone of the node they run on)."""
    v1, ns, label = _core(secrets), _ns(configuration), _zone_label(configuration)
    pods = _pods(v1, ns, selector)
    try:
        nodes = {n.metadata.name: n for n in v1.list_node().items}
    except ApiException as exc:
        raise ActivityFailed(f"cannot list nodes: {exc.reason}") from exc
    zones: Counter[str] = Counter({z: 0 for z in (configuration or {}).get("zones", [])})
    ready = 0
    for pod in filter(_is_ready, pods):
        node = nodes.get(pod.spec.node_name)
        zones[(node.metadata.labels or {}).get(label, "") if node else ""] += 1
        ready += 1
    return {"ready": ready, "zones": dict(zones), "pods": len(pods)}


def wait_for_capacity(
    selector: str,
    min_per_zone: int,
    timeout_s: float,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until every zone has ``min_per_zone`` ready pods and ``min_total`` in all.

    Fails after ``timeout_s`` (the RTO), naming what is still short.
    """
    started = time.monotonic()
    while True:
        capacity = ready_capacity(selector, configuration, secrets)
        took = time.monotonic() - started
        short = shortfall(capacity, int(min_per_zone), int(min_total))
        if not short and capacity["zones"]:
            return {**capacity, "recovered_after_s": round(took, 2)}
        if took >= float(timeout_s):
            raise ActivityFailed(f"capacity not back within {float(timeout_s):.0f} s: {short}")
        _pause(timeout_s)


UNDO = {ZONE_DOWN: undo_zone_down, STORE_CUT: undo_store_cut}
