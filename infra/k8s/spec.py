"""What the manifests are built from, and the metadata every object shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.k8s.pods import PART_OF, PodSettings

ACTIVE_DEPLOYMENT = "recdrill-replica-active"  # one per zone: f"{ACTIVE_DEPLOYMENT}-{zone}"
# The custom metric the replica HPAs scale on (/v1/recommend req/s per pod); the
# prometheus-adapter rule in infra/k8s/platform.py produces it.
RPS_METRIC = "recdrill_replica_recommend_rps"


def active_name(zone: str) -> str:
    return f"{ACTIVE_DEPLOYMENT}-{zone}"


@dataclass(frozen=True)
class WorkloadSpec:
    """The sizes and wiring of the workloads; built from the environment spec."""

    pods: PodSettings
    zones: tuple[str, ...]
    replicas_per_zone: int
    standby_replicas: int
    peak_replicas: int
    max_replicas: int
    router_replicas: int
    placeholders_per_zone: int = 0
    device_plugin: bool = False
    replica_role_arn: pulumi.Input[str] | None = None
    load_balancer_annotations: dict[str, str] = field(default_factory=dict)
    load_balancer_class: str | None = None
    store_egress_port: int = 443
    # The VPC and Service CIDRs on EKS: the router's ingress and its API egress stay
    # inside them. Empty on kube, where the private ranges stand in.
    cluster_cidrs: tuple[str, ...] = ()
    # Per-pod /v1/recommend req/s the replica HPAs aim at (needs prometheus-adapter);
    # None: scale on CPU (kube stack, where no adapter is installed).
    replica_rps_target: int | None = None

    @property
    def active_replicas(self) -> int:
        return self.replicas_per_zone * len(self.zones)


def meta(
    name: str,
    namespace: str | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**PART_OF, **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta
