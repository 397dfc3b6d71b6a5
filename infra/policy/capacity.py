"""Capacity invariants: GPU room in every zone, and enough replicas to lose any one zone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from infra.config import (
    GPUS_PER_INSTANCE,
    NODE_GROUP_ZONE_LABEL,
    RESERVED_LABEL_PREFIXES,
    ZONE_LABEL,
)
from infra.policy.view import (
    GPU,
    Resources,
    active_deployments,
    display_name,
    k8s_objects,
    of_type,
    pod_labels,
    pod_spec,
    replica_gpus,
    role_of,
)

GPU_AMI_TYPES = {"AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU", "BOTTLEROCKET_x86_64_NVIDIA"}


def zones_have_gpu_capacity(resources: Resources) -> list[str]:
    """Every AZ with private subnets has its own tainted GPU node group with min ≥ 1."""
    zones = sorted(
        {
            s["availabilityZone"]
            for s in of_type(resources, "aws:ec2/subnet:Subnet")
            if (s.get("tags") or {}).get("kubernetes.io/role/internal-elb")
        }
    )
    groups = of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    problems = [
        f"node group label {label} uses a prefix EKS rejects ({', '.join(RESERVED_LABEL_PREFIXES)})"
        for group in groups
        for label in group.get("labels") or {}
        if any(label.startswith(p) or f".{p}" in label for p in RESERVED_LABEL_PREFIXES)
    ]
    for zone in zones:
        gpu_groups = [
            g
            for g in groups
            if (g.get("labels") or {}).get(NODE_GROUP_ZONE_LABEL) == zone
            and g.get("amiType") in GPU_AMI_TYPES
        ]
        if not gpu_groups:
            problems.append(
                f"zone {zone} has no GPU node group labelled {NODE_GROUP_ZONE_LABEL}={zone}"
            )
            continue
        for group in gpu_groups:
            scaling = group.get("scalingConfig") or {}
            if scaling.get("minSize", 0) < 1:
                problems.append(f"GPU node group of zone {zone} may scale to 0 (minSize < 1)")
            if scaling.get("maxSize", 0) < scaling.get("minSize", 0):
                problems.append(f"GPU node group of zone {zone} has maxSize < minSize")
            if len(group.get("subnetIds") or []) != 1:
                problems.append(f"GPU node group of zone {zone} must use that zone's subnet only")
            taints = group.get("taints") or []
            if not any(t.get("key") == GPU and t.get("effect") == "NO_SCHEDULE" for t in taints):
                problems.append(f"GPU node group of zone {zone} lacks the {GPU} NoSchedule taint")
    return problems


def _active(resources: Resources) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The active replica Deployments, or why there are none to check."""
    if not k8s_objects(resources, "Deployment"):
        return [], []  # infrastructure-only stack (deploy_workloads: false)
    active = active_deployments(resources)
    if not active:
        return [], ["no active replica Deployment annotated with recdrill.io/zones"]
    return active, []


def _zones(active: Mapping[str, Any]) -> list[str]:
    return [z for z in active["metadata"]["annotations"]["recdrill.io/zones"].split(",") if z]


def _pinned_zone(deployment: Mapping[str, Any]) -> str | None:
    return (pod_spec(deployment).get("nodeSelector") or {}).get(ZONE_LABEL)


def _replicas(deployment: Mapping[str, Any]) -> int:
    return int(deployment["spec"].get("replicas", 1))


def _worst_zone_loss(active: list[Mapping[str, Any]], zones: list[str]) -> int:
    """Active replicas lost with the zone that holds the most: pinned Deployments say
    exactly; an unpinned one is assumed evenly spread."""
    per_zone = dict.fromkeys(zones, 0)
    for deployment in active:
        zone = _pinned_zone(deployment)
        if zone in per_zone:
            per_zone[zone] += _replicas(deployment)
        else:
            for z in zones:
                per_zone[z] += math.ceil(_replicas(deployment) / len(zones))
    return max(per_zone.values())


def zone_loss_keeps_peak(resources: Resources) -> list[str]:
    """Losing any one zone leaves active + standby replicas (and GPU room) for the peak."""
    active, missing = _active(resources)
    if not active:
        return missing
    annotations = active[0]["metadata"]["annotations"]
    zones = _zones(active[0])
    peak = int(annotations["recdrill.io/peak-replicas"])
    labels = pod_labels(active[0])
    standby = sum(
        _replicas(d)
        for d in k8s_objects(resources, "Deployment")
        if role_of(d) == "standby"
        and pod_labels(d).get("app.kubernetes.io/name") == labels.get("app.kubernetes.io/name")
    )
    replicas = sum(_replicas(d) for d in active)
    survivors = (
        replicas - _worst_zone_loss(active, zones) + standby - math.ceil(standby / len(zones))
    )
    problems = []
    if survivors < peak:
        problems.append(
            f"after losing one of {len(zones)} zones only {survivors} replicas remain "
            f"({replicas} active + {standby} standby) but the peak needs {peak}"
        )
    gpus = replica_gpus(active[0])
    groups = of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    if gpus and groups:
        slots = {}
        for group in groups:
            zone = (group.get("labels") or {}).get(NODE_GROUP_ZONE_LABEL)
            per_node = GPUS_PER_INSTANCE.get((group.get("instanceTypes") or [""])[0], 0)
            if zone in zones:
                slots[zone] = slots.get(zone, 0) + group["scalingConfig"]["maxSize"] * (
                    per_node // gpus
                )
        for lost in zones:
            room = sum(slots.get(z, 0) for z in zones if z != lost)
            if room < peak:
                problems.append(
                    f"without zone {lost} the GPU node groups can hold only {room} replicas "
                    f"at max size; the peak needs {peak}"
                )
    return problems


def replicas_spread_over_zones(resources: Resources) -> list[str]:
    """At least one active replica per zone: pinned per zone, or spread by zone without
    the cordon trap."""
    active, missing = _active(resources)
    if not active:
        return missing
    zones = _zones(active[0])
    problems = []
    pinned = {}
    for deployment in active:
        zone = _pinned_zone(deployment)
        if zone is not None:
            pinned[zone] = pinned.get(zone, 0) + _replicas(deployment)
    spread = [d for d in active if _pinned_zone(d) is None]
    for deployment in spread:
        replicas = _replicas(deployment)
        if replicas < len(zones):
            problems.append(
                f"{display_name(deployment)} has {replicas} replicas for {len(zones)} zones"
            )
        problems += _spread_problems(deployment)
    if not spread:
        for zone in zones:
            if pinned.get(zone, 0) < 1:
                problems.append(f"zone {zone} has no active replica pinned to it")
    return problems


def _spread_problems(deployment: Mapping[str, Any]) -> list[str]:
    spreads = [
        c
        for c in pod_spec(deployment).get("topologySpreadConstraints") or []
        if c.get("topologyKey") == ZONE_LABEL
    ]
    if not spreads:
        return [f"{display_name(deployment)} has no topology spread over {ZONE_LABEL}"]
    return [
        f"{display_name(deployment)} spreads with DoNotSchedule: a cordoned zone still counts "
        "as a domain with 0 pods and replacements stay Pending (kubernetes#106127); "
        "use ScheduleAnyway or nodeTaintsPolicy: Honor"
        for spread in spreads
        if spread.get("whenUnsatisfiable") == "DoNotSchedule"
        and spread.get("nodeTaintsPolicy") != "Honor"
    ]
