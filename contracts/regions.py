"""Regions in the deployment description: a primary and its warm-standby DR region(s).

A deployment with regions has one global ``endpoint`` (Route 53 failover records or
Global Accelerator on AWS; the local front door process locally) and, per region, the
router endpoint that steering sends traffic to, the zones it spans and the store its
replicas read. The DR region reads the replication target of the primary's store, never
the primary's store itself: when the primary region is lost its bucket may be lost too.

``replication_window_s`` is how long a promoted version may take to reach a DR region
before it counts as late: S3 Replication Time Control's 15 minutes on AWS, the
replicator's configured lag plus a margin locally. The RPO alert fires past it.

The description key is ``regions``: a list of region objects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["REGION_ROLES", "Region", "RegionError", "check_regions", "regions_from_json"]

REGION_ROLES = ("primary", "dr")


class RegionError(ValueError):
    """A malformed ``regions`` block; the message names the region and the key."""


@dataclass(frozen=True)
class Region:
    """One region of a multi-region deployment. ``endpoint`` may be a Pulumi Output."""

    name: str
    role: str
    endpoint: Any
    zones: tuple[str, ...]
    store_url: Any
    replication_window_s: float = 900.0
    control_url: str | None = None

    def __post_init__(self) -> None:
        where = f"regions[{self.name!r}]"
        if not isinstance(self.name, str) or not self.name:
            raise RegionError(f"regions: a region needs a non-empty name, got {self.name!r}")
        if self.role not in REGION_ROLES:
            raise RegionError(f"{where}.role must be one of {', '.join(REGION_ROLES)}")
        if isinstance(self.endpoint, str) and not self.endpoint.startswith(("http://", "https://")):
            raise RegionError(f"{where}.endpoint must be an http(s) URL, got {self.endpoint!r}")
        zones = self.zones
        if isinstance(zones, str) or not isinstance(zones, Sequence) or not zones:
            raise RegionError(f"{where}.zones must be a non-empty list, got {zones!r}")
        if any(not isinstance(z, str) or not z for z in zones) or len(set(zones)) != len(zones):
            raise RegionError(f"{where}.zones must be distinct zone names, got {list(zones)}")
        object.__setattr__(self, "zones", tuple(zones))
        if isinstance(self.store_url, str) and not self.store_url:
            raise RegionError(f"{where}.store_url must not be empty")
        window = self.replication_window_s
        if (
            isinstance(window, bool)
            or not isinstance(window, int | float)
            or not math.isfinite(window)
            or window <= 0
        ):
            raise RegionError(f"{where}.replication_window_s must be a positive number")
        object.__setattr__(self, "replication_window_s", float(window))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "endpoint": self.endpoint,
            "zones": list(self.zones),
            "store_url": self.store_url,
            "replication_window_s": self.replication_window_s,
        }
        if self.control_url is not None:
            body["control_url"] = self.control_url
        return body

    @classmethod
    def from_json(cls, data: Any, index: int) -> Region:
        if not isinstance(data, Mapping):
            raise RegionError(f"regions[{index}] must be an object, got {data!r}")
        missing = [k for k in ("name", "role", "endpoint", "zones", "store_url") if k not in data]
        if missing:
            raise RegionError(f"regions[{index}] is missing {missing[0]!r}")
        return cls(
            name=data["name"],
            role=data["role"],
            endpoint=data["endpoint"],
            zones=data["zones"],
            store_url=data["store_url"],
            replication_window_s=data.get("replication_window_s", 900.0),
            control_url=data.get("control_url"),
        )


def check_regions(regions: Sequence[Region]) -> tuple[Region, ...]:
    """One primary first-class, at least one DR region, distinct names and stores."""
    regions = tuple(regions)
    if not regions:
        return regions
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise RegionError(f"regions: names repeat: {names}")
    primaries = [r for r in regions if r.role == "primary"]
    if len(primaries) != 1:
        raise RegionError(f"regions: exactly one primary region, got {len(primaries)}")
    if len(regions) < 2:
        raise RegionError("regions: a primary needs at least one dr region beside it")
    stores = [r.store_url for r in regions if isinstance(r.store_url, str)]
    if len(set(stores)) != len(stores):
        raise RegionError("regions: each region must read its own store (the DR copy)")
    return regions


def regions_from_json(data: Any) -> tuple[Region, ...]:
    if not isinstance(data, list):
        raise RegionError(f"regions must be a list of region objects, got {data!r}")
    return check_regions([Region.from_json(item, i) for i, item in enumerate(data)])
