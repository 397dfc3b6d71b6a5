"""Probes for the local environment: replicas, ready capacity per zone, recovery waits."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments.local import control
from experiments.probes.capacity import shortfall

__all__ = ["ready_capacity", "replicas", "wait_for_capacity"]


def replicas(
    selector: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """The replicas matching ``selector`` (state, zone, role, restarts) and the zones' states."""
    params = {"selector": selector} if selector else None
    return control.call("GET", "/v1/replicas", configuration, secrets, params=params)


def ready_capacity(
    selector: str = "app=recdrill-replica",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Ready replicas per zone and per role, and which zones are up.

    Returns ``{"ready": n, "zones": {zone: n}, "roles": {role: n}, "zone_states": {...},
    "restarts": n}`` counting replicas in state ``ready``.
    """
    listing = replicas(selector, configuration, secrets)
    ready = [r for r in listing.get("replicas", []) if r.get("state") == "ready"]
    zones = Counter(r["zone"] for r in ready)
    for zone in (configuration or {}).get("zones", []):
        zones.setdefault(zone, 0)
    return {
        "ready": len(ready),
        "zones": dict(zones),
        "roles": dict(Counter(r.get("role", "") for r in ready)),
        "zone_states": listing.get("zones", {}),
        "restarts": sum(int(r.get("restarts", 0)) for r in listing.get("replicas", [])),
    }


def wait_for_capacity(
    min_per_zone: int,
    timeout_s: float,
    selector: str = "app=recdrill-replica,role=active",
    interval_s: float = 0.5,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until every zone has ``min_per_zone`` ready replicas matching ``selector``
    and at least ``min_total`` are ready in all.

    Returns the capacity and the seconds it took; fails when ``timeout_s`` (the RTO)
    passes first, naming what is still short.
    """
    started = time.monotonic()
    while True:
        capacity = ready_capacity(selector, configuration, secrets)
        took = time.monotonic() - started
        short = shortfall(capacity, min_per_zone, min_total)
        if not short:
            return {**capacity, "recovered_after_s": round(took, 2)}
        if took >= timeout_s:
            raise ActivityFailed(f"capacity not back within {timeout_s:.0f} s: {short}")
        time.sleep(interval_s)
