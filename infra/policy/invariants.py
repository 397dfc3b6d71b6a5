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
from infra.policy.cluster import (
    autoscaling_has_signal,
    cluster_access_locked,
    node_autoscaler_installed,
    nodes_imdsv2_only,
    versions_pinned,
)
from infra.policy.disruption import pdbs_allow_disruption, rollouts_fit_spare_gpus
from infra.policy.exposure import router_egress_inside, router_not_public, tokens_only_where_needed
from infra.policy.fis import fis_role_scoped, zone_loss_templates
from infra.policy.iam import irsa_least_privilege
from infra.policy.monitoring import alert_rules_deployed
from infra.policy.network import network_policies_enforced, no_zone_spof
from infra.policy.regions import (
    dr_reads_replication_target,
    dr_region_differs,
    dr_scales_to_primary,
    steering_checks_readiness,
)
from infra.policy.storage import buckets_hardened, replication_has_rtc
from infra.policy.view import Resources
from infra.policy.workloads import workloads_hardened

__all__ = [
    "INVARIANTS",
    "Resources",
    "alert_rules_deployed",
    "autoscaling_has_signal",
    "buckets_hardened",
    "cluster_access_locked",
    "dr_reads_replication_target",
    "dr_region_differs",
    "dr_scales_to_primary",
    "fis_role_scoped",
    "irsa_least_privilege",
    "network_policies_enforced",
    "no_zone_spof",
    "node_autoscaler_installed",
    "nodes_imdsv2_only",
    "pdbs_allow_disruption",
    "replicas_spread_over_zones",
    "replication_has_rtc",
    "rollouts_fit_spare_gpus",
    "router_egress_inside",
    "router_not_public",
    "steering_checks_readiness",
    "tokens_only_where_needed",
    "versions_pinned",
    "workloads_hardened",
    "zone_loss_keeps_peak",
    "zone_loss_templates",
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
    "no-zone-spof": no_zone_spof,
    "network-policies-enforced": network_policies_enforced,
    "versions-pinned": versions_pinned,
    "cluster-access-locked": cluster_access_locked,
    "nodes-imdsv2-only": nodes_imdsv2_only,
    "node-autoscaler-installed": node_autoscaler_installed,
    "autoscaling-has-signal": autoscaling_has_signal,
    "pdbs-allow-disruption": pdbs_allow_disruption,
    "rollouts-fit-spare-gpus": rollouts_fit_spare_gpus,
    "router-not-public": router_not_public,
    "router-egress-inside": router_egress_inside,
    "tokens-only-where-needed": tokens_only_where_needed,
    "alert-rules-deployed": alert_rules_deployed,
    "zone-loss-templates": zone_loss_templates,
    "fis-role-scoped": fis_role_scoped,
    "dr-region-differs": dr_region_differs,
    "dr-reads-replication-target": dr_reads_replication_target,
    "dr-scales-to-primary": dr_scales_to_primary,
    "steering-checks-readiness": steering_checks_readiness,
}
