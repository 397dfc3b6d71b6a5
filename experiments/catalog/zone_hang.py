"""zone-hang: a zone is partitioned, not killed; the router gets through within the SLO.

The gray twin of zone-loss. Locally, zone-loss kills the zone's processes, so the router
is refused within microseconds; a real zone loss (FIS's AZ power interruption) cuts the
subnets, and callers' connections hang until their own timeouts. Here the zone's replicas
are frozen by the kernel's freezer cgroup: the kernel still holds their sockets, nothing
answers. What keeps the SLO is the router's per-try timeout, its retries in other zones,
passive ejection and the standby; losing any of them shows in the p99 or availability.
Nothing is replaced during the hang: Kubernetes evicts an unreachable node's pods only
after 40 s + 300 s (scaled: the controller's ``--eviction-delay``), longer than the hold.

Local only: on EKS zone-loss already is this partition (its FIS action cuts the subnets).
"""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    driver_probe,
    experiment,
    fault,
    hypothesis,
    pause_probe,
    recorder,
)

NAME = "zone-hang"
PLATFORMS = ("local",)
BLAST_RADIUS = 7.2  # a whole zone, after zone-loss (its gray twin)
# Run at the design peak (experiments.design_peak): losing capacity is what it tests.
AT_DESIGN_PEAK = True
# The partition lasts this long at least: the router's health checks and ejection have
# had their say well before it ends, and it stays shorter than the eviction delay.
MIN_HANG_S = 15.0


def build(config: dict[str, Any]) -> dict[str, Any]:
    zone = config.get("blast_zone") or config["zones"][0]
    config = {**config, "blast_zone": zone}
    up = fault(config, "zone-up", "zone_up", {"zone": zone})
    body = experiment(
        NAME,
        config,
        title=f"A partitioned zone {zone} keeps the recommender within its SLO",
        description=(
            f"Every replica in zone {zone} stops answering without being refused: they "
            "are frozen, so a connection to them hangs until the caller's timeout, as "
            "when the zone's subnets are cut. Availability and p99 stay within the SLO "
            "because the router's per-try timeout gives up on a silent replica, retries "
            "it in another zone, ejects it and promotes standby. Nothing is replaced "
            "while the zone hangs (an unreachable node's pods are evicted only after the "
            "eviction delay). Then the partition heals: the replicas thaw and are ready "
            "again. The rollback heals the zone if the run stops half-way."
        ),
        tags=["zone", "failover", "gray-failure"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(config, "zone-hang", "zone_hang", {"zone": zone}),
            pause_probe("hold-partition", "${zone_hold_s}"),
            up,
            driver_probe(
                config,
                "zone-back",
                "wait_for_zone_return",
                {"zone": zone, "timeout_s": "${zone_return_timeout_s}"},
            ),
        ],
        rollbacks=[up],
    )
    conf = body["configuration"]
    conf["zone_hold_s"] = max(float(conf["fault_hold_s"]), MIN_HANG_S)
    return body
