"""The Kubernetes API calls every Kubernetes fault and probe shares, and the capacity probes."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from chaosk8s import create_k8s_api_client
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments.faults.common import setting
from experiments.probes.capacity import wait_until_capacity

POLL_S = 2.0


def pause(timeout_s: float) -> None:
    """Poll every 2 s, or more often when the whole wait is short."""
    time.sleep(min(POLL_S, max(0.05, float(timeout_s) / 10)))


def core(secrets: Secrets) -> client.CoreV1Api:
    return client.CoreV1Api(create_k8s_api_client(secrets))


def namespace(configuration: Configuration) -> str:
    return str(setting(configuration, "namespace", "recdrill"))


def zone_label(configuration: Configuration) -> str:
    return str(setting(configuration, "zone_label", "topology.kubernetes.io/zone"))


def is_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp or (pod.status.phase or "") != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def list_pods(v1: client.CoreV1Api, ns: str, selector: str, node: str | None = None) -> list[Any]:
    fields = f"spec.nodeName={node}" if node else None
    try:
        kwargs = {"label_selector": selector, **({"field_selector": fields} if fields else {})}
        return v1.list_namespaced_pod(ns, **kwargs).items
    except ApiException as exc:
        raise ActivityFailed(f"cannot list pods {selector!r} in {ns}: {exc.reason}") from exc


def ready_capacity(
    selector: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Ready pods matching ``selector`` per zone (the zone of the node they run on)."""
    v1, ns, label = core(secrets), namespace(configuration), zone_label(configuration)
    pods = list_pods(v1, ns, selector)
    try:
        nodes = {n.metadata.name: n for n in v1.list_node().items}
    except ApiException as exc:
        raise ActivityFailed(f"cannot list nodes: {exc.reason}") from exc
    zones: Counter[str] = Counter({z: 0 for z in (configuration or {}).get("zones", [])})
    ready = 0
    for pod in filter(is_ready, pods):
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
    return wait_until_capacity(
        lambda: ready_capacity(selector, configuration, secrets),
        int(min_per_zone),
        int(min_total),
        float(timeout_s),
        lambda: pause(timeout_s),
        need_zones=True,
    )
