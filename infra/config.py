"""One typed, validated environment spec for the Pulumi programs.

Every stack file (``Pulumi.<env>.yaml``) is turned into an :class:`EnvSpec` by
:func:`spec_from_dict` (plain dict: what tests feed) or :func:`spec_from_pulumi` (the
running stack's config). Mistakes that would only surface as Pending pods during a
zone-loss drill (too few zones, no standby, GPU sizing that cannot fit) are refused
here with a :class:`ConfigError` that names the key, before anything is created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from contracts.deployment import Slo
from contracts.drill_window import DrillWindow, DrillWindowError

NAMESPACE = "recdrill"
ZONE_LABEL = "topology.kubernetes.io/zone"
# EKS refuses node group labels under kubernetes.io/, k8s.io/ and eks.amazonaws.com/; the
# cloud provider sets ZONE_LABEL on the nodes itself, so node groups carry this one too.
NODE_GROUP_ZONE_LABEL = "recdrill.io/zone"
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
TARGETS = ("eks", "kube")
# A stack stands up the primary region, or the warm-standby DR region next to it (a
# ``prod-dr`` stack that reads the primary's outputs; docs/dr.md says why two stacks).
REGION_ROLES = ("primary", "dr")
# EKS support types: STANDARD lets EKS upgrade the control plane when standard support
# ends; EXTENDED keeps the version 12 more months at 6x the cluster price.
SUPPORT_TYPES = ("STANDARD", "EXTENDED")
# Kubernetes versions the program has pinned add-on versions for (infra/aws/versions.py).
SUPPORTED_KUBERNETES = ("1.35",)
_LIST_KEYS = ("zones", "api_public_cidrs", "drill_windows")
_SLO = Slo.for_platform("kubernetes")  # the SLO defaults have one owner: contracts

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
    # Multi-region (docs/dr.md): this stack's role; for "dr", the primary's stack name
    # (org/project/stack) and region, and the private hosted zone and record name that
    # Route 53 failover steers between the two regions' routers.
    region_role: str = "primary"
    primary_stack: str | None = None
    primary_region: str | None = None
    steering_zone_id: str | None = None
    steering_record: str | None = None
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
    slo_availability: float = _SLO.availability
    slo_p99_ms: float = _SLO.p99_ms
    slo_max_degraded_ratio: float = _SLO.max_degraded_ratio
    slo_quality_floor: float = _SLO.quality_floor
    slo_rto_s: float = _SLO.rto_s
    # Deploy the recommender's alert rules, PodMonitors and dashboard. EKS installs
    # kube-prometheus-stack itself (always on); on kube it must already run there.
    monitoring: bool = True
    monitoring_namespace: str = "monitoring"
    monitoring_release: str = "kube-prometheus-stack"
    # Drill safety, exported in the deployment description: what kind of environment
    # this is (``production`` makes ``experiments run`` keep to the windows and the
    # pre-flight), when drills may run ("mon-fri 02:00-05:00 Europe/Berlin" each) and
    # how many requests per second a drill may add on top of real traffic.
    environment_kind: str | None = None
    drill_windows: tuple[str, ...] = ()
    traffic_ceiling_rps: float | None = None

    @property
    def windows(self) -> tuple[DrillWindow, ...]:
        """``drill_windows`` parsed; a ConfigError names the key and the bad window."""
        return tuple(drill_window(text) for text in self.drill_windows)

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


def drill_window(text: str) -> DrillWindow:
    """``"DAYS HH:MM-HH:MM TZ"`` (``DrillWindow.describe``'s form) as a window.

    Stack config holds windows as text: Pulumi project config has no object type.
    """
    parts = text.split()
    start, dash, end = parts[1].partition("-") if len(parts) == 3 else ("", "", "")
    if not dash:
        raise ConfigError(
            "drill_windows",
            f"{text!r} is not 'DAYS HH:MM-HH:MM TZ', e.g. 'mon-fri 02:00-05:00 Europe/Berlin'",
        )
    try:
        return DrillWindow.from_json({"days": parts[0], "start": start, "end": end, "tz": parts[2]})
    except DrillWindowError as exc:
        raise ConfigError("drill_windows", f"{text!r}: {exc}") from None


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
    if kind in ("float", "float | None"):
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
    # The cross-key rules live beside the spec; imported here because they import it.
    from infra.config_rules import validate

    validate(spec)
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
