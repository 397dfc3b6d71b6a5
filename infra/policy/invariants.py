"""Resilience invariants over a plain resource view, one registry for pack and tests.

Each function takes resources shaped like pulumi-policy's ``PolicyResource``
(``resource_type``, ``props``; props in the engine's camelCase) and returns a list of
violations, one clear sentence each; an empty list means the invariant holds. The same
functions run in the policy pack (``pulumi preview --policy-pack infra/policy``) and in
the unit tests over the mocked stacks.
"""

from __future__ import annotations

from infra.policy.capacity import (
    replicas_spread_over_zones,
    zone_loss_keeps_peak,
    zones_have_gpu_capacity,
)
from infra.policy.iam import irsa_least_privilege
from infra.policy.storage import buckets_hardened, replication_has_rtc
from infra.policy.view import Resources
from infra.policy.workloads import workloads_hardened

__all__ = [
    "INVARIANTS",
    "Resources",
    "buckets_hardened",
    "irsa_least_privilege",
    "replicas_spread_over_zones",
    "replication_has_rtc",
    "workloads_hardened",
    "zone_loss_keeps_peak",
    "zones_have_gpu_capacity",
]

INVARIANTS = {
    "zones-have-gpu-capacity": zones_have_gpu_capacity,
    "zone-loss-keeps-peak": zone_loss_keeps_peak,
    "replicas-spread-over-zones": replicas_spread_over_zones,
    "workloads-hardened": workloads_hardened,
    "buckets-hardened": buckets_hardened,
    "replication-has-rtc": replication_has_rtc,
    "irsa-least-privilege": irsa_least_privilege,
}
