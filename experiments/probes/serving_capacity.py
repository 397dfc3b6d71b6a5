"""Time below capacity: how long after a fault the replicas the router can use carry less
than the offered load.

What a warm standby buys is capacity with no wait. Without one, a zone loss at the design
peak leaves the survivors short until the lost replicas are rescheduled: 115 s on a
cluster (image pull, model fetch), 11.5 s locally on the RTO's scale. Latency alone cannot
show that here: a replica's batches grow with its load, so four replicas carried the
design peak for those 11.5 s at p99 87 ms in one sensitivity run. So the probe judges the
capacity itself: the router's ``serving_capacity`` (``GET /v1/upstreams``: the load its
split can carry, in replicas' worth), times one replica's measured capacity (the drill's
capacity over its active replicas), against the rate the experiment offers. The clock
runs until the router has stopped using the lost zone and what it has left carries the
load; it keeps running past the budget, up to ``limit_s``, so the journal has the whole
gap either way.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

__all__ = ["wait_for_serving_capacity"]

POLL_S = 0.1


def _view(client: httpx.Client, endpoint: str) -> dict[str, Any] | None:
    try:
        response = client.get(f"{endpoint.rstrip('/')}/v1/upstreams")
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _uses_zone(view: dict[str, Any], zone: str | None) -> bool:
    return zone is not None and any(
        u.get("zone") == zone and u.get("state") == "healthy" for u in view.get("upstreams", [])
    )


def wait_for_serving_capacity(
    endpoint: str,
    offered_rps: list[float] | float,
    replica_capacity_rps: float,
    lost_zone: str | None = None,
    budget_s: float = 3.0,
    limit_s: float = 30.0,
) -> dict[str, Any]:
    """Wait until the router carries ``offered_rps`` (a list is summed: the windows' rate
    and the recorder's) without ``lost_zone``; fail when that took over ``budget_s``.

    ``replica_capacity_rps`` ≤ 0 means the drill measured no capacity: nothing to judge
    the load against, and the journal says so rather than passing a check it never made.
    """
    offered = sum(float(r) for r in offered_rps) if isinstance(offered_rps, list) else offered_rps
    offered, per_replica = float(offered), float(replica_capacity_rps)
    if per_replica <= 0:
        return {"judged": False, "reason": "no measured capacity to judge the load against"}
    needed = offered / per_replica
    started = time.monotonic()
    seen: dict[str, Any] | None = None
    with httpx.Client(timeout=1.0) as client:
        while True:
            took = time.monotonic() - started
            view = _view(client, endpoint)
            if view is not None:
                seen = view
                if not _uses_zone(view, lost_zone) and view["serving_capacity"] >= needed:
                    break
            if took >= float(limit_s):
                break
            time.sleep(POLL_S)
    carried = seen["serving_capacity"] if seen else 0.0
    result = {
        "judged": True,
        "below_capacity_s": round(took, 2),
        "budget_s": float(budget_s),
        "offered_rps": round(offered, 1),
        "replica_capacity_rps": round(per_replica, 1),
        "needed_replicas": round(needed, 2),
        "serving_capacity": carried,
    }
    short = f"{carried:.2f} replicas' worth against {needed:.2f} needed"
    what = f"{offered:.0f} rps at {per_replica:.1f} rps a replica"
    if took >= float(limit_s):
        raise ActivityFailed(
            f"the router's replicas carried less than the load ({what}) for the whole "
            f"{float(limit_s):.0f} s watched: {short}"
        )
    if took > float(budget_s):
        raise ActivityFailed(
            f"below capacity for {took:.1f} s after the fault, budget {float(budget_s):g} s "
            f"({what}; at the end {short})"
        )
    return result
