"""Kubernetes faults (chaosk8s style) with the same verbs as the other drivers.

Zone loss is power loss, not maintenance: the zone's nodes are cordoned and tainted
``NoExecute``, and every recdrill pod on them (active, standby, router) is deleted with
grace 0, no eviction, so PodDisruptionBudgets do not apply. Store outage edits the
stack's own allowing policy (``replicas-to-store``), because NetworkPolicies add up: a
new deny policy would take nothing away. Each fault records what it changed (the
original policy spec, the nodes it cordoned) in the rollback state file first. Region
loss takes the primary region out of the global steering by cutting its routers' client
ingress (experiments/faults/kubernetes_regions.py).
"""

from __future__ import annotations

import time
from typing import Any

from chaosk8s.pod.actions import terminate_pods
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments import state
from experiments.faults import aws
from experiments.faults.common import setting, state_file, store_driver, unsupported
from experiments.faults.kubernetes_api import (
    core,
    is_ready,
    list_pods,
    namespace,
    pause,
    ready_capacity,
    wait_for_capacity,
    zone_label,
)
from experiments.faults.kubernetes_network import (
    STORE_CUT,
    restore_store,
    store_outage,
    undo_store_cut,
)
from experiments.faults.kubernetes_regions import (
    REGION_DOWN,
    region_down,
    region_up,
    restore_replication,
    slow_replication,
    undo_region_down,
)
from experiments.faults.refusal import corrupted_version, refusal
from experiments.probes.capacity import shortfall

__all__ = [
    "check_refusal",
    "corrupt_model",
    "freeze_replicas",
    "kill_replicas",
    "ready_capacity",
    "region_down",
    "region_up",
    "restart_replicas",
    "restore_model",
    "restore_replication",
    "restore_store",
    "slow_replication",
    "store_outage",
    "thaw_replicas",
    "wait_for_capacity",
    "wait_for_replacement",
    "wait_for_zone_return",
    "zone_down",
    "zone_hang",
    "zone_up",
]

ZONE_DOWN = "kubernetes.zone_down"
REPLACED = "kubernetes.replaced"
ZONE_TAINT = {"key": "recdrill.io/zone-down", "value": "chaos", "effect": "NoExecute"}
_NO_SIGSTOP = "the Kubernetes API cannot pause a container (SIGSTOP); slow-replica is local only"


def _note_replaced(
    configuration: Configuration,
    victims: list[str],
    selector: str,
    ready_before: int,
    pods_before: list[str],
) -> None:
    """What ``wait_for_replacement`` and ``check_refusal`` need to find the new pods."""
    state.note(
        state_file(configuration),
        REPLACED,
        victims=victims,
        selector=selector,
        ready_before=ready_before,
        pods_before=pods_before,
    )


def kill_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Delete ``count`` random pods matching ``selector`` with grace 0.

    Their ReplicaSet replaces them; ``wait_for_replacement`` waits for that.
    """
    ns = namespace(configuration)
    pods = list_pods(core(secrets), ns, selector)
    before = sum(is_ready(p) for p in pods)
    deleted = terminate_pods(
        label_selector=selector, ns=ns, qty=count, rand=True, grace_period=0, secrets=secrets
    )
    if not deleted:
        raise ActivityFailed(f"no pod in namespace {ns} matches {selector!r}")
    _note_replaced(configuration, deleted, selector, before, [p.metadata.name for p in pods])
    return deleted


def wait_for_replacement(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until the pods the last kill deleted are gone and as many pods are ready again."""
    notes = state.notes(state_file(configuration), REPLACED)
    if not notes:
        raise ActivityFailed("no kill recorded in the state file: nothing to wait for")
    victims, selector = set(notes[0]["params"]["victims"]), notes[0]["params"]["selector"]
    wanted = int(notes[0]["params"]["ready_before"])
    ns, v1, started = namespace(configuration), core(secrets), time.monotonic()
    while True:
        pods = list_pods(v1, ns, selector)
        left = sorted(victims & {p.metadata.name for p in pods})
        ready = sum(is_ready(p) for p in pods)
        took = time.monotonic() - started
        if not left and ready >= wanted:
            return {"ready": ready, "replaced_after_s": round(took, 2)}
        if took >= float(timeout_s):
            raise ActivityFailed(
                f"not replaced within {float(timeout_s):.0f} s: {ready}/{wanted} ready, "
                f"still there: {left}"
            )
        pause(timeout_s)


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
    ns, v1 = namespace(configuration), core(secrets)
    pods = list_pods(v1, ns, selector)
    chosen = [p.metadata.name for p in pods][: int(count) or None]
    if not chosen:
        raise ActivityFailed(f"no pod in namespace {ns} matches {selector!r}")
    timeout_s = float(setting(configuration, "slo_rto_s", 300.0))
    if not wait_ready:
        names = [p.metadata.name for p in pods]
        _note_replaced(configuration, chosen, selector, sum(map(is_ready, pods)), names)
    for name in chosen:
        now = list_pods(v1, ns, selector)
        try:
            v1.delete_namespaced_pod(name, ns)
        except ApiException as exc:
            raise ActivityFailed(f"cannot delete pod {ns}/{name}: {exc.reason}") from exc
        if wait_ready:
            ready = sum(map(is_ready, now))
            _note_replaced(configuration, [name], selector, ready, [p.metadata.name for p in now])
            wait_for_replacement(timeout_s, configuration, secrets)
    return chosen


def check_refusal(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Check that the pods that replaced the last restarted ones refused the corrupted model.

    Reads each new pod's ``/metrics`` and ``/v1/model`` at its pod IP and ``http``
    port, so the runner must reach the pod network (run it in the cluster).
    """
    path = state_file(configuration)
    corrupted = corrupted_version(path)
    notes = state.notes(path, REPLACED)
    if not notes:
        raise ActivityFailed("no restart recorded in the state file: nothing to check")
    params = notes[0]["params"]
    ns, v1, started = namespace(configuration), core(secrets), time.monotonic()
    shown: dict[str, Any] = {}
    while True:
        new = [
            p
            for p in list_pods(v1, ns, params["selector"])
            if p.metadata.name not in params["pods_before"]
        ]
        for pod in new:
            url = _pod_url(pod)
            seen = refusal(url, corrupted) if url else None
            if seen:
                shown[pod.metadata.name] = seen
        if len(shown) >= len(params["victims"]):
            return {"corrupted": corrupted, "refused": shown}
        if time.monotonic() - started >= float(timeout_s):
            raise ActivityFailed(
                f"no refusal of {corrupted} seen within {float(timeout_s):.0f} s: "
                f"{len(shown)} of {len(params['victims'])} replacement pods showed one"
            )
        pause(timeout_s)


def _pod_url(pod: Any) -> str | None:
    ports = [
        port.container_port
        for container in pod.spec.containers or []
        for port in container.ports or []
        if port.name == "http"
    ]
    ip = pod.status.pod_ip if pod.status else None
    return f"http://{ip}:{ports[0]}" if ip and ports else None


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
    ``NoExecute`` taint keeps anything from running there until ``zone_up``. On EKS,
    where the deployment names an AWS FIS template per zone (``fis_templates``), the
    zone's power interruption is started first through the aws driver: its instances
    stop and its subnets are cut, and the pod deletions stand for what the node
    lifecycle controller would do only minutes later.
    """
    if (configuration or {}).get("fis_templates"):
        aws.zone_down(zone, configuration, secrets)
    v1, ns, label = core(secrets), namespace(configuration), zone_label(configuration)
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
            for pod in list_pods(v1, ns, str(selector), node.metadata.name):
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
    v1, restored = core(secrets), []
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


def zone_hang(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on Kubernetes: on EKS ``zone_down`` starts FIS's AZ power interruption, which
    cuts the zone's subnets, so zone-loss there is already the partition that zone-hang
    models locally."""
    unsupported("kubernetes", "zone_hang", "use zone-loss, whose FIS action cuts the subnets")


def zone_up(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Untaint and uncordon the nodes ``zone_down`` took, and stop its FIS experiment
    where one was started (idempotent)."""
    path = state_file(configuration)
    restored = (
        aws.zone_up(zone, configuration, secrets) if state.pending(path, aws.ZONE_DOWN) else []
    )
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
    v1, label = core(secrets), zone_label(configuration)
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
        pause(timeout_s)


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


UNDO = {ZONE_DOWN: undo_zone_down, STORE_CUT: undo_store_cut, REGION_DOWN: undo_region_down}
