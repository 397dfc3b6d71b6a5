"""Disruption invariants: every PDB lets a drain move at least one pod, and every GPU
rollout fits the spare GPUs it can surge onto."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.policy.view import (
    Resources,
    display_name,
    k8s_objects,
    pod_labels,
    pod_spec,
    replica_gpus,
    role_of,
)


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _allowed(budget: Mapping[str, Any], replicas: int) -> int:
    """Disruptions a budget allows with every selected pod healthy (integers; a
    percentage is read as at least one when non-zero, which Kubernetes rounds up)."""
    if "maxUnavailable" in budget:
        value = budget["maxUnavailable"]
        if isinstance(value, str):
            return 1 if value.rstrip("%") not in ("0", "") else 0
        return int(value)
    value = budget.get("minAvailable", 0)
    if isinstance(value, str):
        return replicas if value.rstrip("%") == "0" else 0 if value == "100%" else 1
    return replicas - int(value)


def pdbs_allow_disruption(resources: Resources) -> list[str]:
    """No PodDisruptionBudget blocks every eviction of the pods it selects (a node drain
    would hang forever)."""
    deployments = k8s_objects(resources, "Deployment")
    problems = []
    for pdb in k8s_objects(resources, "PodDisruptionBudget"):
        spec = pdb["spec"]
        replicas = sum(
            int(d["spec"].get("replicas", 1))
            for d in deployments
            if _selects(spec.get("selector") or {}, pod_labels(d))
        )
        if replicas and _allowed(spec, replicas) < 1:
            problems.append(
                f"{display_name(pdb)} allows no disruption of its {replicas} pods: a node "
                "drain can never move them"
            )
    return problems


def _pinned_zone(workload: Mapping[str, Any], zone_labels: set[str]) -> str | None:
    selector = pod_spec(workload).get("nodeSelector") or {}
    return next((v for k, v in selector.items() if k in zone_labels), None)


def rollouts_fit_spare_gpus(resources: Resources) -> list[str]:
    """A GPU Deployment surges only onto GPUs the headroom placeholders hold in the zones
    it can use; with none, it must roll with maxSurge 0 (else any template change waits
    for a GPU that does not exist)."""
    deployments = k8s_objects(resources, "Deployment")
    zone_labels = {"topology.kubernetes.io/zone"}
    spare: dict[str | None, int] = {}
    for placeholder in (d for d in deployments if role_of(d) == "placeholder"):
        zone = _pinned_zone(placeholder, zone_labels)
        slots = int(placeholder["spec"].get("replicas", 1)) * replica_gpus(placeholder)
        spare[zone] = spare.get(zone, 0) + slots
    problems = []
    for deployment in deployments:
        gpus = replica_gpus(deployment)
        if not gpus or role_of(deployment) == "placeholder":
            continue
        rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = rolling.get("maxSurge", "25%")
        surge_pods = int(surge) if not isinstance(surge, str) else (0 if surge == "0%" else 1)
        zone = _pinned_zone(deployment, zone_labels)
        room = spare.get(zone, 0) if zone else sum(spare.values())
        if surge_pods * gpus > room:
            where = f"zone {zone}" if zone else "the cluster"
            problems.append(
                f"{display_name(deployment)} surges {surge_pods} pod(s) × {gpus} GPU but "
                f"{where} holds only {room} spare GPU(s): the rollout would wait forever"
            )
    return problems
