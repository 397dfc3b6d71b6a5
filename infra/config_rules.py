"""The environment spec's cross-key rules: each names the key a person should change.

Kept apart from :mod:`infra.config` (the spec, its keys and their coercion) so that each
module holds one concern; :func:`infra.config.spec_from_dict` runs :func:`validate`.
"""

from __future__ import annotations

import ipaddress

from contracts.deployment import ENVIRONMENT_KINDS
from infra.config import (
    _FIELDS,
    GPUS_PER_INSTANCE,
    REGION_ROLES,
    SUPPORT_TYPES,
    SUPPORTED_KUBERNETES,
    TARGETS,
    ConfigError,
    EnvSpec,
    drill_window,
)


def validate(spec: EnvSpec) -> None:
    """Cross-key checks; each names the key a person should change."""
    if spec.target not in TARGETS:
        raise ConfigError("target", f"must be one of {', '.join(TARGETS)}, got {spec.target!r}")
    if len(set(spec.zones)) != len(spec.zones):
        raise ConfigError("zones", f"zone names repeat: {list(spec.zones)}")
    _validate_counts(spec)
    _validate_region_role(spec)
    if spec.target == "eks":
        _validate_eks(spec)
        _validate_drill_tooling_on_eks(spec)
    else:
        _validate_kube(spec)
    if spec.is_prod:
        _validate_prod(spec)
    _validate_slo(spec)
    _validate_drill_safety(spec)


def _validate_counts(spec: EnvSpec) -> None:
    for key in ("replicas_per_zone", "peak_replicas", "hpa_rps_per_replica"):
        if getattr(spec, key) < 1:
            raise ConfigError(key, f"must be at least 1, got {getattr(spec, key)}")
    if spec.router_replicas < 2:
        raise ConfigError(
            "router_replicas",
            f"must be at least 2 so a node drain never takes the only router, "
            f"got {spec.router_replicas}",
        )
    for key in ("standby_replicas", "standby_placeholders_per_zone", "gpus_per_replica"):
        if getattr(spec, key) < 0:
            raise ConfigError(key, f"must not be negative, got {getattr(spec, key)}")
    if spec.max_replicas and spec.max_replicas < spec.active_replicas:
        raise ConfigError(
            "max_replicas",
            f"{spec.max_replicas} is below the steady active count "
            f"replicas_per_zone × zones = {spec.active_replicas}",
        )
    if spec.peak_replicas > spec.hpa_max_replicas:
        raise ConfigError(
            "peak_replicas",
            f"{spec.peak_replicas} exceeds the HPA ceiling max_replicas = {spec.hpa_max_replicas}",
        )


def _validate_eks(spec: EnvSpec) -> None:
    for key in ("region", "model_bucket"):
        if not getattr(spec, key):
            raise ConfigError(key, "is required for target eks")
    if spec.model_store_url:
        raise ConfigError("model_store_url", "is derived from model_bucket on eks; remove it")
    if len(spec.zones) < 2:
        raise ConfigError("zones", f"EKS needs at least 2 zones, got {len(spec.zones)}")
    if not spec.nat_per_zone:
        raise ConfigError(
            "nat_per_zone",
            "a shared NAT gateway is a zone single point of failure: losing its zone cuts "
            "every zone's egress; EKS stacks need a NAT gateway per zone",
        )
    if spec.kubernetes_version not in SUPPORTED_KUBERNETES:
        raise ConfigError(
            "kubernetes_version",
            f"{spec.kubernetes_version} has no pinned add-on versions "
            f"(supported: {', '.join(SUPPORTED_KUBERNETES)})",
        )
    if spec.eks_support_type not in SUPPORT_TYPES:
        raise ConfigError(
            "eks_support_type",
            f"must be one of {', '.join(SUPPORT_TYPES)}, got {spec.eks_support_type!r}",
        )
    _validate_cidrs(spec.api_public_cidrs)
    if not spec.break_glass_role_arn or not spec.break_glass_role_arn.startswith("arn:aws:iam::"):
        raise ConfigError(
            "break_glass_role_arn",
            "an IAM role ARN (arn:aws:iam::<account>:role/<name>) is required on eks: the "
            "break-glass cluster admin when the CI role is lost",
        )
    if spec.gpu_instance_type not in GPUS_PER_INSTANCE:
        raise ConfigError(
            "gpu_instance_type",
            f"{spec.gpu_instance_type!r} is not a known GPU instance type "
            f"({', '.join(sorted(GPUS_PER_INSTANCE))})",
        )
    if spec.gpus_per_replica < 1:
        raise ConfigError("gpus_per_replica", "must be at least 1 on eks (GPU node groups)")
    if spec.gpus_per_replica > spec.gpus_per_node:
        raise ConfigError(
            "gpus_per_replica",
            f"{spec.gpus_per_replica} GPUs per replica do not fit a {spec.gpu_instance_type} "
            f"node with {spec.gpus_per_node} GPUs",
        )
    if spec.gpu_nodes_min < 0:
        raise ConfigError("gpu_nodes_min", f"must not be negative, got {spec.gpu_nodes_min}")
    if spec.gpu_nodes_max < spec.gpu_nodes_min:
        raise ConfigError(
            "gpu_nodes_max",
            f"{spec.gpu_nodes_max} is below gpu_nodes_min = {spec.gpu_nodes_min}",
        )
    if not spec.gpu_nodes_min <= spec.gpu_nodes_desired <= spec.gpu_nodes_max:
        raise ConfigError(
            "gpu_nodes_desired",
            f"{spec.gpu_nodes_desired} is outside [gpu_nodes_min, gpu_nodes_max] = "
            f"[{spec.gpu_nodes_min}, {spec.gpu_nodes_max}]",
        )
    per_zone_slots = spec.gpu_nodes_max * spec.replicas_per_node
    in_zone = spec.replicas_per_zone + spec.standby_placeholders_per_zone
    if in_zone > per_zone_slots:
        raise ConfigError(
            "gpu_nodes_max",
            f"a zone must hold replicas_per_zone + standby_placeholders_per_zone = {in_zone} "
            f"GPU pods but {spec.gpu_nodes_max} nodes × {spec.replicas_per_node} fit only "
            f"{per_zone_slots}",
        )
    gpu_pods = (
        spec.active_replicas
        + spec.standby_replicas
        + spec.standby_placeholders_per_zone * len(spec.zones)
    )
    if gpu_pods > per_zone_slots * len(spec.zones):
        raise ConfigError(
            "gpu_nodes_max",
            f"active + standby + placeholder pods = {gpu_pods} exceed the GPU slots of "
            f"{len(spec.zones)} zones × {spec.gpu_nodes_max} nodes × {spec.replicas_per_node}",
        )
    surviving_slots = (len(spec.zones) - 1) * per_zone_slots
    if spec.peak_replicas > surviving_slots:
        raise ConfigError(
            "peak_replicas",
            f"{spec.peak_replicas} peak replicas do not fit the max nodes left after losing a "
            f"zone: {len(spec.zones) - 1} zones × {spec.gpu_nodes_max} nodes × "
            f"{spec.replicas_per_node} per node = {surviving_slots}",
        )
    if spec.dr_replication:
        for key in ("dr_region", "dr_bucket"):
            if not getattr(spec, key):
                raise ConfigError(key, "is required when dr_replication is true")
        if spec.dr_region == spec.region:
            raise ConfigError("dr_region", f"must differ from the primary region {spec.region}")


def _validate_region_role(spec: EnvSpec) -> None:
    """A DR stack reads the primary's replicated bucket and owns the failover steering;
    it replicates nothing itself and must sit in another region than the primary."""
    if spec.region_role not in REGION_ROLES:
        raise ConfigError(
            "region_role", f"must be one of {', '.join(REGION_ROLES)}, got {spec.region_role!r}"
        )
    dr_keys = ("primary_stack", "primary_region", "steering_zone_id", "steering_record")
    if spec.region_role == "primary":
        for key in dr_keys:
            if getattr(spec, key):
                raise ConfigError(key, "is for a region_role dr stack only; remove it")
        return
    if spec.target != "eks":
        raise ConfigError("region_role", "a dr region stack needs target eks")
    for key in dr_keys:
        if not getattr(spec, key):
            raise ConfigError(key, "is required for a region_role dr stack")
    if spec.primary_region == spec.region:
        raise ConfigError(
            "primary_region",
            f"the DR region must differ from the primary region, both are {spec.region}",
        )
    if spec.dr_replication:
        raise ConfigError(
            "dr_replication",
            "a dr stack reads the primary's replication target; replication is configured "
            "in the primary stack",
        )


def _validate_cidrs(cidrs: tuple[str, ...]) -> None:
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise ConfigError("api_public_cidrs", f"{cidr!r} is not a CIDR") from exc
        if network.prefixlen == 0:
            raise ConfigError(
                "api_public_cidrs",
                f"{cidr} opens the cluster API to the whole internet; list your CI runners' "
                "and VPN egress CIDRs, or none for a private endpoint",
            )


def _validate_drill_tooling_on_eks(spec: EnvSpec) -> None:
    """EKS installs its own kube-prometheus-stack; where it goes is not a choice. The
    router canaries' bucket is ``<model_bucket>-canary`` and their names
    ``rd-<environment>-<zone suffix>``: S3 and Synthetics limits, checked before ``up``."""
    if len(f"{spec.model_bucket}-canary") > 63:
        raise ConfigError("model_bucket", "at most 56 characters (its -canary bucket: 63)")
    if len(f"rd-{spec.environment}-") + max(len(z.rsplit("-", 1)[-1]) for z in spec.zones) > 21:
        raise ConfigError("environment", "too long for the canary names (21 characters)")
    region_pair = spec.region_role == "dr" or spec.dr_replication
    if region_pair and len(f"rd-{spec.environment}-ready") > 21:
        raise ConfigError("environment", "too long for the readiness canary name (21 characters)")
    if not spec.monitoring:
        raise ConfigError("monitoring", "EKS stacks always deploy their alert rules; remove it")
    for key in ("monitoring_namespace", "monitoring_release"):
        if getattr(spec, key) != _FIELDS[key].default:
            raise ConfigError(
                key, "EKS installs kube-prometheus-stack itself; this is for target kube only"
            )


def _validate_kube(spec: EnvSpec) -> None:
    if not spec.deploy_workloads:
        raise ConfigError("deploy_workloads", "target kube deploys only workloads; keep it true")
    for key in ("model_store_url", "image"):
        if not getattr(spec, key):
            raise ConfigError(key, "is required for target kube (no AWS resources are created)")
    for key in (
        "model_bucket",
        "dr_replication",
        "dr_bucket",
        "dr_region",
        "api_public_cidrs",
        "break_glass_role_arn",
    ):
        if getattr(spec, key):
            raise ConfigError(key, "has no meaning for target kube; remove it")


def _validate_prod(spec: EnvSpec) -> None:
    if len(spec.zones) < 3:
        raise ConfigError("zones", f"prod needs at least 3 zones, got {len(spec.zones)}")
    if spec.standby_replicas < 1:
        raise ConfigError("standby_replicas", "prod needs warm standby replicas (got 0)")
    if spec.target == "eks" and not spec.dr_replication:
        raise ConfigError("dr_replication", "prod replicates the model bucket to a DR region")


def _validate_slo(spec: EnvSpec) -> None:
    for key in ("slo_availability", "slo_max_degraded_ratio", "slo_quality_floor"):
        if not 0.0 <= getattr(spec, key) <= 1.0:
            raise ConfigError(key, f"must be within [0, 1], got {getattr(spec, key)}")
    for key in ("slo_p99_ms", "slo_rto_s"):
        if getattr(spec, key) <= 0:
            raise ConfigError(key, f"must be positive, got {getattr(spec, key)}")


def _validate_drill_safety(spec: EnvSpec) -> None:
    """What ``experiments run`` reads from the description must parse, and prod must be
    marked production with a window and a ceiling, or drills there would run unguarded."""
    kind = spec.environment_kind
    if kind is not None and kind not in ENVIRONMENT_KINDS:
        raise ConfigError(
            "environment_kind", f"must be one of {', '.join(ENVIRONMENT_KINDS)}, got {kind!r}"
        )
    for text in spec.drill_windows:
        drill_window(text)  # raises naming the key and the window
    ceiling = spec.traffic_ceiling_rps
    if ceiling is not None and not 0 < ceiling < float("inf"):
        raise ConfigError("traffic_ceiling_rps", f"must be a positive number, got {ceiling}")
    if spec.is_prod and kind != "production":
        raise ConfigError(
            "environment_kind",
            f"prod must be 'production' so drills keep to its windows, got {kind!r}",
        )
    if kind == "production":
        if not spec.drill_windows:
            raise ConfigError(
                "drill_windows", "production needs at least one window (low-traffic hours)"
            )
        if ceiling is None:
            raise ConfigError(
                "traffic_ceiling_rps", "production needs a ceiling on the load a drill adds"
            )
