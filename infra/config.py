"""One typed, validated environment spec for the Pulumi programs.

Every stack file (``Pulumi.<env>.yaml``) is turned into an :class:`EnvSpec` by
:func:`spec_from_dict` (plain dict: what tests feed) or :func:`spec_from_pulumi` (the
running stack's config). Mistakes that would only surface as Pending pods during a
zone-loss drill (too few zones, no standby, GPU sizing that cannot fit) are refused
here with a :class:`ConfigError` that names the key, before anything is created.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

NAMESPACE = "recdrill"
ZONE_LABEL = "topology.kubernetes.io/zone"
# EKS refuses node group labels under kubernetes.io/, k8s.io/ and eks.amazonaws.com/; the
# cloud provider sets ZONE_LABEL on the nodes itself, so node groups carry this one too.
NODE_GROUP_ZONE_LABEL = "recdrill.io/zone"
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
TARGETS = ("eks", "kube")
# EKS support types: STANDARD lets EKS upgrade the control plane when standard support
# ends; EXTENDED keeps the version 12 more months at 6x the cluster price.
SUPPORT_TYPES = ("STANDARD", "EXTENDED")
# Kubernetes versions the program has pinned add-on versions for (infra/aws/versions.py).
SUPPORTED_KUBERNETES = ("1.35",)
_LIST_KEYS = ("zones", "api_public_cidrs")

# nvidia.com/gpu per node of the GPU instance types we allow (AWS instance specs).
GPUS_PER_INSTANCE: dict[str, int] = {
    "g4dn.xlarge": 1,
    "g4dn.2xlarge": 1,
    "g4dn.12xlarge": 4,
    "g5.xlarge": 1,
    "g5.2xlarge": 1,
    "g5.12xlarge": 4,
    "g5.48xlarge": 8,
    "g6.xlarge": 1,
    "g6.2xlarge": 1,
    "g6.12xlarge": 4,
    "g6e.xlarge": 1,
    "g6e.12xlarge": 4,
    "p4d.24xlarge": 8,
    "p5.48xlarge": 8,
}


class ConfigError(ValueError):
    """A stack config value is missing, unknown or inconsistent; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config {NAMESPACE}:{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class EnvSpec:
    """Everything the program needs about one environment, already checked."""

    environment: str
    target: str
    zones: tuple[str, ...]
    region: str | None = None
    zone_label: str = ZONE_LABEL
    namespace: str = "recdrill"
    model: str = "recommender"
    model_bucket: str | None = None
    model_prefix: str = "models"
    model_store_url: str | None = None
    store_endpoint_url: str | None = None
    dr_replication: bool = False
    dr_region: str | None = None
    dr_bucket: str | None = None
    image: str | None = None
    image_tag: str = "0.1.0"
    deploy_workloads: bool = True
    vpc_cidr: str = "10.0.0.0/16"
    nat_per_zone: bool = True
    kubernetes_version: str = "1.35"
    eks_support_type: str = "STANDARD"
    api_public_cidrs: tuple[str, ...] = ()
    break_glass_role_arn: str | None = None
    system_instance_type: str = "m6i.large"
    system_nodes: int = 2
    gpu_instance_type: str = "g5.xlarge"
    gpu_nodes_min: int = 1
    gpu_nodes_desired: int = 1
    gpu_nodes_max: int = 3
    gpus_per_replica: int = 1
    replicas_per_zone: int = 2
    standby_replicas: int = 1
    standby_placeholders_per_zone: int = 0
    peak_replicas: int = 2
    max_replicas: int = 0
    router_replicas: int = 2
    hpa_rps_per_replica: int = 300
    slo_availability: float = 0.999
    slo_p99_ms: float = 250.0
    slo_max_degraded_ratio: float = 0.05
    slo_quality_floor: float = 0.8
    slo_rto_s: float = 300.0

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def active_replicas(self) -> int:
        return self.replicas_per_zone * len(self.zones)

    @property
    def hpa_max_replicas(self) -> int:
        """HPA ceiling: explicit, else twice the steady active count."""
        return self.max_replicas or 2 * self.active_replicas

    @property
    def gpus_per_node(self) -> int:
        return GPUS_PER_INSTANCE.get(self.gpu_instance_type, 0)

    @property
    def replicas_per_node(self) -> int:
        return self.gpus_per_node // self.gpus_per_replica if self.gpus_per_replica else 0

    @property
    def store_url(self) -> str:
        """The model store URL the replicas load from (contract 1)."""
        if self.model_store_url:
            return self.model_store_url
        return f"s3://{self.model_bucket}/{self.model_prefix}"

    @property
    def dr_store_url(self) -> str | None:
        if not self.dr_replication:
            return None
        return f"s3://{self.dr_bucket}/{self.model_prefix}"


_FIELDS = {f.name: f for f in fields(EnvSpec)}
_REQUIRED = ("environment", "target", "zones")


def defaults() -> dict[str, Any]:
    """Every optional key with its default, as Pulumi.yaml declares them."""
    spec_defaults: dict[str, Any] = {}
    for name, f in _FIELDS.items():
        if name not in _REQUIRED:
            spec_defaults[name] = f.default
    return spec_defaults


def _coerce(key: str, value: Any) -> Any:
    """Turn a config value (native, or the string Pulumi hands over) into the field's type."""
    kind = _FIELDS[key].type
    if value is None or (value == "" and "None" in kind):
        return None  # Pulumi.yaml declares optional strings with default "" (unset)
    if key in _LIST_KEYS:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(key, f"expected a list of strings, got {value!r}") from exc
        if not isinstance(value, list | tuple) or not all(isinstance(z, str) for z in value):
            raise ConfigError(key, f"expected a list of strings, got {value!r}")
        return tuple(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(key, f"expected an integer, got {value!r}") from exc
        if not number.is_integer():
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return int(number)
    if kind == "float":
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(key, f"expected a number, got {value!r}") from exc
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"expected a non-empty string, got {value!r}")
    return value


def spec_from_dict(raw: Mapping[str, Any]) -> EnvSpec:
    """Build and validate the spec from plain config keys (without the ``recdrill:`` prefix)."""
    for key in raw:
        if key not in _FIELDS:
            raise ConfigError(key, f"unknown key (known: {', '.join(sorted(_FIELDS))})")
    for key in _REQUIRED:
        if raw.get(key) in (None, "", [], ()):
            raise ConfigError(key, "is required")
    values = {key: _coerce(key, value) for key, value in raw.items()}
    spec = EnvSpec(**values)
    _validate(spec)
    return spec


def spec_from_pulumi(project: str = NAMESPACE) -> EnvSpec:
    """Read every ``recdrill:*`` key of the running stack (plus ``aws:region``)."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in everything.items():
        namespace, _, key = full_key.partition(":")
        if namespace == project:
            raw[key] = value
    region = everything.get("aws:region")
    if region and "region" not in raw:
        raw["region"] = region
    return spec_from_dict(raw)


def _validate(spec: EnvSpec) -> None:
    """Cross-key checks; each names the key a person should change."""
    if spec.target not in TARGETS:
        raise ConfigError("target", f"must be one of {', '.join(TARGETS)}, got {spec.target!r}")
    if len(set(spec.zones)) != len(spec.zones):
        raise ConfigError("zones", f"zone names repeat: {list(spec.zones)}")
    _validate_counts(spec)
    if spec.target == "eks":
        _validate_eks(spec)
    else:
        _validate_kube(spec)
    if spec.is_prod:
        _validate_prod(spec)
    _validate_slo(spec)


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
