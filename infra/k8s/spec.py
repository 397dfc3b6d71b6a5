"""What the manifests are built from, and the metadata every object shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.k8s.pods import PART_OF, PodSettings


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
    store_egress_port: int = 443

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
