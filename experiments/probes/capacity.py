"""Capacity tolerance shared by the local and Kubernetes ready-capacity probes."""

from __future__ import annotations

from typing import Any

__all__ = ["enough_capacity", "shortfall"]


def enough_capacity(
    value: dict[str, Any] | None = None, min_ready: int = 1, min_zones: int = 1
) -> bool:
    """Tolerance: at least ``min_ready`` ready replicas in at least ``min_zones`` zones."""
    if not isinstance(value, dict):
        return False
    zones_serving = sum(1 for n in value.get("zones", {}).values() if n > 0)
    return value.get("ready", 0) >= min_ready and zones_serving >= min_zones


def shortfall(capacity: dict[str, Any], min_per_zone: int, min_total: int) -> str:
    """What is missing from ``capacity`` ('' when nothing is)."""
    short = {z: n for z, n in capacity["zones"].items() if n < min_per_zone}
    if short:
        return f"zones short of {min_per_zone} ready replicas: {short}"
    if capacity["ready"] < min_total:
        return f"{capacity['ready']} ready replicas of {min_total} needed"
    return ""
