"""The deployment description (DESIGN.md contract 2): one owner for its keys and SLO defaults.

The Pulumi program exports ``Deployment.to_json()`` key by key, ``infra.local up`` writes
it to ``deployment.json`` and the experiments read it back with ``from_json``. Nothing
else builds or parses the object, so a key changes here or nowhere.

The recovery-time target (``rto_s``) is the one SLO figure that differs by platform:
local replicas are processes that restart in seconds (30 s), while on Kubernetes a lost
zone's pods wait for scheduling, image pulls and model loading on surviving GPU nodes
(300 s, about the time Kubernetes itself takes to evict pods from a lost node).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from contracts.drill_window import DrillWindow, DrillWindowError
from contracts.regions import Region, RegionError, check_regions, regions_from_json

__all__ = [
    "DESCRIPTION_KEYS",
    "ENVIRONMENT_KINDS",
    "PLATFORMS",
    "RTO_S",
    "SAFETY_KEYS",
    "Control",
    "Deployment",
    "DeploymentError",
    "ModelStoreRef",
    "Selectors",
    "Slo",
]

PLATFORMS = ("local", "kubernetes")
RTO_S = {"local": 30.0, "kubernetes": 300.0}
DEFAULT_ZONE_LABEL = "topology.kubernetes.io/zone"
DEFAULT_NAMESPACE = "recdrill"
DESCRIPTION_KEYS = (
    "environment",
    "platform",
    "endpoint",
    "zones",
    "zone_label",
    "namespace",
    "selectors",
    "replicas_per_zone",
    "standby_replicas",
    "model_store",
    "slo",
)
# Optional keys that make a drill safe to run (written only when set): what kind of
# environment this is (``production`` turns on windows and pre-flight), when drills may
# run there, and how many requests per second a drill may add on top of real traffic.
SAFETY_KEYS = ("environment_kind", "drill_windows", "traffic_ceiling_rps")
ENVIRONMENT_KINDS = ("production", "staging", "development", "test")
_REQUIRED = ("platform", "endpoint", "zones", "selectors", "model_store")


class DeploymentError(ValueError):
    """The deployment description is missing or malformed (the key is named in the message)."""


def _fail(key: str, problem: str) -> DeploymentError:
    return DeploymentError(f"deployment description: {key!r} {problem}")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(key, f"must be a finite number, got {value!r}")
    return float(value)


def _text(value: Any, key: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(key, f"must be a non-empty string, got {value!r}")
    return value


def _count(value: Any, key: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise _fail(key, f"must be an integer of at least {least}, got {value!r}")
    return value


def _object(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, f"must be an object, got {value!r}")
    return value


@dataclass(frozen=True)
class Slo:
    """Service level objectives: what the probes, the gate and the report judge against."""

    availability: float = 0.999
    p99_ms: float = 250.0
    max_degraded_ratio: float = 0.05
    quality_floor: float = 0.8
    rto_s: float = RTO_S["local"]

    def __post_init__(self) -> None:
        for key in ("availability", "max_degraded_ratio", "quality_floor"):
            value = _number(getattr(self, key), f"slo.{key}")
            if not 0.0 <= value <= 1.0:
                raise _fail(f"slo.{key}", f"must be within [0, 1], got {value}")
            object.__setattr__(self, key, value)
        for key in ("p99_ms", "rto_s"):
            value = _number(getattr(self, key), f"slo.{key}")
            if value <= 0:
                raise _fail(f"slo.{key}", f"must be positive, got {value}")
            object.__setattr__(self, key, value)

    @classmethod
    def for_platform(cls, platform: str) -> Slo:
        """The defaults for ``platform`` (only the recovery-time target differs)."""
        if platform not in RTO_S:
            raise _fail("platform", f"must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        return cls(rto_s=RTO_S[platform])

    @classmethod
    def from_json(cls, data: Any, platform: str = "local") -> Slo:
        """The ``slo`` block; keys it leaves out take the platform's defaults."""
        block = _object(data, "slo")
        unknown = sorted(set(block) - set(cls.__dataclass_fields__))
        if unknown:
            raise _fail(f"slo.{unknown[0]}", "is not an SLO key")
        return replace(cls.for_platform(platform), **dict(block))

    def to_json(self) -> dict[str, float]:
        return {
            "availability": self.availability,
            "p99_ms": self.p99_ms,
            "max_degraded_ratio": self.max_degraded_ratio,
            "quality_floor": self.quality_floor,
            "rto_s": self.rto_s,
        }


@dataclass(frozen=True)
class Selectors:
    """Label selectors of the active replicas, the standby replicas and the router."""

    active: str
    standby: str = ""
    router: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Selectors:
        block = _object(data, "selectors")
        return cls(
            active=_text(block.get("active"), "selectors.active") or "",
            standby=str(block.get("standby") or ""),
            router=str(block.get("router") or ""),
        )

    def to_json(self) -> dict[str, str]:
        return {"active": self.active, "standby": self.standby, "router": self.router}


@dataclass(frozen=True)
class ModelStoreRef:
    """Where the replicas load models from: the store URL, its DR copy, the model name."""

    url: str
    model: str = "recommender"
    dr_url: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ModelStoreRef:
        block = _object(data, "model_store")
        return cls(
            url=_text(block.get("url"), "model_store.url") or "",
            model=_text(block.get("model", "recommender"), "model_store.model") or "",
            dr_url=_text(block.get("dr_url"), "model_store.dr_url", optional=True),
        )

    def to_json(self) -> dict[str, str | None]:
        return {"url": self.url, "dr_url": self.dr_url, "model": self.model}


@dataclass(frozen=True)
class Control:
    """The local controller API (the local stand-in for the cluster API) and its token."""

    url: str
    token: str

    @classmethod
    def from_json(cls, data: Any) -> Control:
        block = _object(data, "control")
        return cls(
            url=_text(block.get("url"), "control.url") or "",
            token=_text(block.get("token"), "control.token") or "",
        )

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "token": self.token}


def _windows(data: Any) -> tuple[DrillWindow, ...]:
    if not isinstance(data, list):
        raise _fail("drill_windows", f"must be a list of windows, got {type(data).__name__}")
    try:
        return tuple(DrillWindow.from_json(w, f"drill_windows[{i}]") for i, w in enumerate(data))
    except DrillWindowError as exc:
        raise DeploymentError(f"deployment description: {exc}") from None


def _regions(data: Any) -> tuple[Region, ...]:
    try:
        return regions_from_json(data)
    except RegionError as exc:
        raise DeploymentError(f"deployment description: {exc}") from None


@dataclass(frozen=True)
class Deployment:
    """One running environment. ``endpoint`` is the router's URL; in a Pulumi program it
    may be an Output that resolves to one, so only a string endpoint is checked."""

    platform: str
    endpoint: Any
    zones: tuple[str, ...]
    selectors: Selectors
    model_store: ModelStoreRef
    slo: Slo
    environment: str = ""
    zone_label: str = DEFAULT_ZONE_LABEL
    namespace: str = DEFAULT_NAMESPACE
    replicas_per_zone: int = 1
    standby_replicas: int = 0
    control: Control | None = None
    environment_kind: str | None = None
    drill_windows: tuple[DrillWindow, ...] = ()
    traffic_ceiling_rps: float | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    # EKS only: the FIS zone-loss experiment template id per zone (infra/aws/fis.py),
    # what the aws fault driver starts. None where the platform has none.
    fis_templates: Mapping[str, Any] | None = None
    # Multi-region only (contracts/regions.py): the primary and its warm-standby region(s);
    # ``endpoint`` is then the global front door in front of their routers.
    regions: tuple[Region, ...] = ()

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise _fail("platform", f"must be one of {', '.join(PLATFORMS)}, got {self.platform!r}")
        if isinstance(self.endpoint, str) and not self.endpoint.startswith(("http://", "https://")):
            raise _fail("endpoint", f"must be an http(s) URL, got {self.endpoint!r}")
        zones = self.zones
        if isinstance(zones, str) or not isinstance(zones, list | tuple) or not zones:
            raise _fail("zones", f"must be a non-empty list of zone names, got {zones!r}")
        for zone in zones:
            _text(zone, "zones")
        if len(set(zones)) != len(zones):
            raise _fail("zones", f"repeats a zone: {list(zones)}")
        object.__setattr__(self, "zones", tuple(zones))
        object.__setattr__(self, "environment", self.environment or self.platform)
        _text(self.zone_label, "zone_label")
        _text(self.namespace, "namespace")
        _count(self.replicas_per_zone, "replicas_per_zone", 1)
        _count(self.standby_replicas, "standby_replicas", 0)
        if self.platform == "local" and self.control is None:
            raise _fail("control", "is required for a local deployment")
        if self.fis_templates is not None:
            for zone, template in _object(self.fis_templates, "fis_templates").items():
                if zone not in zones:
                    raise _fail("fis_templates", f"names {zone!r}, not one of the zones")
                if isinstance(template, str) or not hasattr(template, "apply"):
                    _text(template, f"fis_templates.{zone}")
        if self.environment_kind is not None and self.environment_kind not in ENVIRONMENT_KINDS:
            raise _fail(
                "environment_kind",
                f"must be one of {', '.join(ENVIRONMENT_KINDS)}, got {self.environment_kind!r}",
            )
        if (
            self.traffic_ceiling_rps is not None
            and not _number(self.traffic_ceiling_rps, "traffic_ceiling_rps") > 0
        ):
            raise _fail("traffic_ceiling_rps", f"must be above 0, got {self.traffic_ceiling_rps}")
        try:
            object.__setattr__(self, "regions", check_regions(self.regions))
        except RegionError as exc:
            raise DeploymentError(f"deployment description: {exc}") from None

    def region(self, role: str) -> Region | None:
        """The first region with ``role`` (``primary`` or ``dr``), None when single-region."""
        return next((r for r in self.regions if r.role == role), None)

    @property
    def production(self) -> bool:
        """Drills here must respect windows and a healthy pre-flight unless forced."""
        return self.environment_kind == "production"

    @property
    def active_replicas(self) -> int:
        return len(self.zones) * self.replicas_per_zone

    def to_json(self) -> dict[str, Any]:
        """The description object: ``DESCRIPTION_KEYS``, plus ``control`` and the local
        environment's extra keys when there are any."""
        body: dict[str, Any] = {
            "environment": self.environment,
            "platform": self.platform,
            "endpoint": self.endpoint,
            "zones": list(self.zones),
            "zone_label": self.zone_label,
            "namespace": self.namespace,
            "selectors": self.selectors.to_json(),
            "replicas_per_zone": self.replicas_per_zone,
            "standby_replicas": self.standby_replicas,
            "model_store": self.model_store.to_json(),
            "slo": self.slo.to_json(),
        }
        if self.control is not None:
            body["control"] = self.control.to_json()
        if self.environment_kind is not None:
            body["environment_kind"] = self.environment_kind
        if self.drill_windows:
            body["drill_windows"] = [w.to_json() for w in self.drill_windows]
        if self.traffic_ceiling_rps is not None:
            body["traffic_ceiling_rps"] = self.traffic_ceiling_rps
        if self.fis_templates is not None:
            body["fis_templates"] = dict(self.fis_templates)
        if self.regions:
            body["regions"] = [r.to_json() for r in self.regions]
        body.update(self.extras)
        return body

    @classmethod
    def from_json(cls, data: Any) -> Deployment:
        """Parse and check a description; a DeploymentError names the first bad key."""
        body = _object(data, "(top level)")
        missing = [key for key in _REQUIRED if key not in body]
        if missing:
            raise _fail(missing[0], f"is missing (required: {', '.join(_REQUIRED)})")
        platform = body["platform"]
        if platform not in PLATFORMS:
            raise _fail("platform", f"must be one of {', '.join(PLATFORMS)}, got {platform!r}")
        known = {*DESCRIPTION_KEYS, *SAFETY_KEYS, "control", "fis_templates", "regions"}
        ceiling = body.get("traffic_ceiling_rps")
        return cls(
            platform=platform,
            endpoint=_text(body["endpoint"], "endpoint"),
            zones=body["zones"],
            selectors=Selectors.from_json(body["selectors"]),
            model_store=ModelStoreRef.from_json(body["model_store"]),
            slo=Slo.from_json(body.get("slo", {}), platform),
            environment=_text(body.get("environment", platform), "environment") or "",
            zone_label=body.get("zone_label", DEFAULT_ZONE_LABEL),
            namespace=body.get("namespace", DEFAULT_NAMESPACE),
            replicas_per_zone=body.get("replicas_per_zone", 1),
            standby_replicas=body.get("standby_replicas", 0),
            control=Control.from_json(body["control"]) if "control" in body else None,
            environment_kind=_text(body.get("environment_kind"), "environment_kind", True),
            drill_windows=_windows(body.get("drill_windows", [])),
            traffic_ceiling_rps=None
            if ceiling is None
            else _number(ceiling, "traffic_ceiling_rps"),
            extras={k: v for k, v in body.items() if k not in known},
            fis_templates=body.get("fis_templates"),
            regions=_regions(body.get("regions", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> Deployment:
        """Read a description file (``deployment.json``, ``pulumi stack output --json``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise DeploymentError(f"deployment description {path} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise DeploymentError(
                f"deployment description {path}: cannot read JSON ({exc})"
            ) from exc
        try:
            return cls.from_json(data)
        except DeploymentError as exc:
            raise DeploymentError(f"{path}: {exc}") from None
