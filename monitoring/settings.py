"""The thresholds and hold times the rules are built from.

Thresholds come from the SLO block of the deployment description, so an alert and the
drill's steady-state hypothesis can never disagree about what "within SLO" means. The
SLO defaults are imported from the one place that holds them, never copied here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from contracts.deployment import Slo

SLO_DEFAULTS = Slo().to_json()

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


class RuleSettingsError(ValueError):
    """A threshold or hold time is out of range (named in the message)."""


@dataclass(frozen=True)
class RuleSettings:
    """SLO thresholds plus how long each condition must hold before its alert fires.

    The hold times (``*_for``) are Prometheus durations. The defaults suit production;
    :meth:`for_drill` shortens them so a drill of a minute or two can see alerts fire.
    """

    availability: float = float(SLO_DEFAULTS["availability"])
    p99_ms: float = float(SLO_DEFAULTS["p99_ms"])
    max_degraded_ratio: float = float(SLO_DEFAULTS["max_degraded_ratio"])
    min_active_per_zone: int = 1
    zones: tuple[str, ...] = ()
    latency_for: str = "2m"
    degraded_for: str = "2m"
    capacity_for: str = "30s"
    versions_for: str = "10m"
    load_failure_window: str = "5m"
    # How long a promoted version may take to reach a DR region (S3 RTC: 15 min; locally
    # the replicator's lag plus a margin, from the description's replication_window_s).
    replication_window: str = "15m"

    def __post_init__(self) -> None:
        if not 0.0 < self.availability < 1.0:
            raise RuleSettingsError(f"availability must be in (0, 1), got {self.availability}")
        if self.p99_ms <= 0:
            raise RuleSettingsError(f"p99_ms must be positive, got {self.p99_ms}")
        if not 0.0 < self.max_degraded_ratio < 1.0:
            raise RuleSettingsError(
                f"max_degraded_ratio must be in (0, 1), got {self.max_degraded_ratio}"
            )
        if self.min_active_per_zone < 1:
            raise RuleSettingsError(
                f"min_active_per_zone must be at least 1, got {self.min_active_per_zone}"
            )
        for name in (
            "latency_for",
            "degraded_for",
            "capacity_for",
            "versions_for",
            "replication_window",
        ):
            _check_duration(name, getattr(self, name))
        _check_duration("load_failure_window", self.load_failure_window)

    @property
    def error_budget(self) -> float:
        return 1.0 - self.availability

    @classmethod
    def from_slo(cls, slo: Mapping[str, Any], **overrides: Any) -> RuleSettings:
        """From a deployment description's ``slo`` block (missing keys take the defaults)."""
        merged = {**SLO_DEFAULTS, **slo}
        return cls(
            availability=float(merged["availability"]),
            p99_ms=float(merged["p99_ms"]),
            max_degraded_ratio=float(merged["max_degraded_ratio"]),
            **overrides,
        )

    def for_drill(self) -> RuleSettings:
        """Same thresholds, hold times short enough for a drill to see alerts fire and
        resolve within its fault window (zone loss -> capacity alert well inside 60 s)."""
        return replace(
            self,
            latency_for="15s",
            degraded_for="15s",
            capacity_for="10s",
            versions_for="60s",
            load_failure_window="2m",
        )


def _check_duration(name: str, value: str) -> None:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise RuleSettingsError(
            f"{name} must be a Prometheus duration like 30s or 2m, got {value!r}"
        )
