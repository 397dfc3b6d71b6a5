"""Kubernetes probes: ready recommender pods per zone, and waiting for capacity to return."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from chaosk8s import create_k8s_api_client
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments.probes.capacity import shortfall

__all__ = ["ready_capacity", "wait_for_capacity"]


def _is_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp or (pod.status.phase or "") != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def ready_capacity(
    label_selector: str,
    ns: str = "recdrill",
    zone_label: str = "topology.kubernetes.io/zone",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Ready pods matching ``label_selector`` per zone (the zone of the node they run on)."""
    v1 = client.CoreV1Api(create_k8s_api_client(secrets))
    try:
        pods = v1.list_namespaced_pod(ns, label_selector=label_selector).items
        nodes = {n.metadata.name: n for n in v1.list_node().items}
    except ApiException as exc:
        raise ActivityFailed(f"cannot list pods {label_selector!r} in {ns}: {exc.reason}") from exc
    zones: Counter[str] = Counter()
    for zone in (configuration or {}).get("zones", []):
        zones[zone] = 0
    ready = 0
    for pod in pods:
        if not _is_ready(pod):
            continue
        node = nodes.get(pod.spec.node_name)
        zone = (node.metadata.labels or {}).get(zone_label, "") if node else ""
        zones[zone] += 1
        ready += 1
    return {"ready": ready, "zones": dict(zones), "pods": len(pods)}


def wait_for_capacity(
    label_selector: str,
    min_per_zone: int,
    timeout_s: float,
    ns: str = "recdrill",
    zone_label: str = "topology.kubernetes.io/zone",
    interval_s: float = 2.0,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until every zone has ``min_per_zone`` ready pods and ``min_total`` in all.

    Fails after ``timeout_s`` (the RTO), naming what is still short.
    """
    started = time.monotonic()
    while True:
        capacity = ready_capacity(label_selector, ns, zone_label, configuration, secrets)
        took = time.monotonic() - started
        short = shortfall(capacity, min_per_zone, min_total)
        if not short and capacity["zones"]:
            return {**capacity, "recovered_after_s": round(took, 2)}
        if took >= timeout_s:
            raise ActivityFailed(f"capacity not back within {timeout_s:.0f} s: {short}")
        time.sleep(interval_s)
