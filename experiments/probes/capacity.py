"""Capacity tolerance shared by the local and Kubernetes ready-capacity probes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chaoslib.exceptions import ActivityFailed

__all__ = ["enough_capacity", "shortfall", "wait_until_capacity"]


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


def wait_until_capacity(
    read: Callable[[], dict[str, Any]],
    min_per_zone: int,
    min_total: int,
    timeout_s: float,
    pause: Callable[[], None],
    need_zones: bool = False,
) -> dict[str, Any]:
    """Poll ``read`` until nothing is short; the capacity and ``recovered_after_s``.

    Recovery counts only when it was seen within ``timeout_s`` (the RTO): a read that
    returns full capacity after the deadline, because the API itself was slow, is still
    a miss, so the figure the journal records is never over the target it passed."""
    started = time.monotonic()
    while True:
        capacity = read()
        took = time.monotonic() - started
        short = shortfall(capacity, int(min_per_zone), int(min_total))
        if need_zones and not capacity["zones"]:
            short = "no zone has a ready replica"
        if not short and took <= float(timeout_s):
            return {**capacity, "recovered_after_s": round(took, 2)}
        if took >= float(timeout_s):
            seen = short or f"full capacity only seen after {took:.1f} s"
            raise ActivityFailed(f"capacity not back within {float(timeout_s):.0f} s: {seen}")
        pause()
