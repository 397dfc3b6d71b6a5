"""zone-loss: a whole zone goes dark; standby absorbs it and capacity returns within the RTO."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    SERVING_CAPACITY,
    driver_probe,
    experiment,
    fault,
    hypothesis,
    pause_probe,
    probe,
    recorder,
    recovery_probe,
)
from experiments.detection import ExpectedAlert

NAME = "zone-loss"
PLATFORMS = ("local", "kubernetes")
BLAST_RADIUS = 7  # a whole zone (``blast_zone``, default the first one)
# Run at the design peak (experiments.design_peak): losing capacity is what it tests.
AT_DESIGN_PEAK = True
ALERTS = (ExpectedAlert("RecdrillZoneActiveCapacityLow", within_s=60.0),)
# The zone stays down at least this long after capacity is back. A real zone loss lasts
# minutes; one shorter than the capacity alert's hold time (10 s in the drill's rules) is
# rightly never paged, and with the warm pool capacity is back in about 3 s, so the
# platform's shorter fault hold alone would end the loss before any alert could fire.
MIN_ZONE_DOWN_S = 20.0
# How long the survivors may carry less than the offered load (experiments.probes.
# serving_capacity): the router noticing the loss (health checks every 0.2 s, two misses,
# discovery every 0.2 s), with room. The standby covers at once; rescheduling does not
# (11.5 s locally, 115 s on a cluster: contracts.cluster_timings), so a deployment whose
# only answer to a zone loss at the design peak is rescheduling misses it.
CAPACITY_GAP_S = {"local": 3.0, "kubernetes": 10.0}


def build(config: dict[str, Any]) -> dict[str, Any]:
    zone = config.get("blast_zone") or config["zones"][0]
    config = {**config, "blast_zone": zone}
    up = fault(config, "zone-up", "zone_up", {"zone": zone})
    body = experiment(
        NAME,
        config,
        title=f"Losing zone {zone} keeps the recommender within its SLO",
        description=(
            f"Every replica in zone {zone} goes down and nothing runs there until it "
            "returns (Kubernetes: its nodes are cordoned and tainted NoExecute, and every "
            "recdrill pod on them, active, standby and router, is force-deleted with grace "
            "0, power-loss style, not drained). Availability stays at or above the SLO "
            "during the loss because the router fails over and standby absorbs the load; "
            "the lost replicas are rescheduled in the other zones and the active capacity "
            "is back within the RTO while the zone is still down. With a measured "
            "capacity, the replicas the router can still use must carry the offered load "
            "within capacity_gap_s of the fault (a replica's worth is the capacity over "
            "the active replicas): the standby's job, which rescheduling cannot do in "
            "time. Then the zone returns: "
            "locally its replicas move home; on Kubernetes nothing moves pods back after "
            "an uncordon, so the check is that the zone takes pods again and the total "
            "capacity holds. The rollback brings the zone back if the run stops half-way."
        ),
        tags=["zone", "failover"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(config, "zone-down", "zone_down", {"zone": zone}),
            probe(
                "load-carried-without-the-zone",
                SERVING_CAPACITY,
                "wait_for_serving_capacity",
                {
                    "endpoint": "${endpoint}",
                    "offered_rps": ["${ssh_rate_rps}", "${recorder_rate_rps}"],
                    "replica_capacity_rps": "${replica_capacity_rps}",
                    "lost_zone": zone,
                    "budget_s": "${capacity_gap_s}",
                    "limit_s": "${slo_rto_s}",
                },
            ),
            recovery_probe(config, "capacity-rescheduled-within-rto", per_zone=False),
            pause_probe("hold-zone-loss", "${zone_hold_s}"),
            up,
            driver_probe(
                config,
                "zone-back-home",
                "wait_for_zone_return",
                {"zone": zone, "timeout_s": "${zone_return_timeout_s}"},
            ),
        ],
        rollbacks=[up],
    )
    conf = body["configuration"]
    conf["zone_hold_s"] = max(float(conf["fault_hold_s"]), MIN_ZONE_DOWN_S)
    conf.setdefault("capacity_gap_s", CAPACITY_GAP_S[config["platform"]])
    conf.setdefault("replica_capacity_rps", 0.0)
    return body
