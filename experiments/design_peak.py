"""The design peak: the load the topology claims to carry through the loss of its largest
zone, with its standby, less a stated margin.

At half of capacity a deployment that has lost one of three zones still has two thirds of
its replicas, so zone loss tests only routing. At the design peak it tests the claim the
topology makes: with a zone gone, the surviving active replicas and the standby must carry
the shop's peak. A replica's share is the measured capacity over the active replicas (the
standby takes traffic only when actives are lost); the survivors are the active replicas
less the largest zone's, plus the standby; ``DESIGN_MARGIN`` is held back for what a
capacity search three seconds a step cannot see (a replica loading a model, GC, noise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DESIGN_MARGIN", "DesignPeak", "design_peak"]

DESIGN_MARGIN = 0.15


@dataclass(frozen=True)
class DesignPeak:
    rps: float
    capacity_rps: float
    active: int
    largest_zone: int
    standby: int
    margin: float

    @property
    def replica_capacity_rps(self) -> float:
        """One active replica's share of the measured capacity."""
        return round(self.capacity_rps / self.active, 1)

    @property
    def survivors(self) -> int:
        return self.active - self.largest_zone + self.standby

    def line(self) -> str:
        """How the peak was derived, in one line (console, summary and journal)."""
        return (
            f"design peak {self.rps:.0f} rps = {self.capacity_rps:.0f} rps / {self.active} "
            f"active × ({self.active} − {self.largest_zone} in the largest zone + "
            f"{self.standby} standby) × (1 − {self.margin:.0%} margin)"
        )


def design_peak(
    capacity_rps: float, topology: Mapping[str, Any], margin: float = DESIGN_MARGIN
) -> DesignPeak:
    """The design peak of ``topology`` (a deployment description's ``zones``,
    ``replicas_per_zone`` and ``standby_replicas``) for a measured capacity."""
    if not capacity_rps > 0:
        raise ValueError(f"capacity must be positive, got {capacity_rps}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be from 0 to 1, got {margin}")
    zones = topology.get("zones")
    count = len(zones) if isinstance(zones, list | tuple) else int(zones or 0)
    per_zone = int(topology.get("replicas_per_zone") or 0)
    standby = int(topology.get("standby_replicas") or 0)
    if count < 1 or per_zone < 1:
        raise ValueError(f"the topology has no active replicas: {count} zones × {per_zone}")
    active = count * per_zone
    per_replica = capacity_rps / active
    survivors = active - per_zone + standby
    rps = round(per_replica * survivors * (1 - margin), 1)
    return DesignPeak(rps, capacity_rps, active, per_zone, standby, margin)
