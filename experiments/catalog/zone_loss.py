"""zone-loss: a whole zone goes dark; standby absorbs it and capacity returns within the RTO."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    action,
    experiment,
    hypothesis,
    pause_probe,
    recorder,
    recovery_probe,
)

NAME = "zone-loss"
PLATFORMS = ("local", "kubernetes")


def build(config: dict[str, Any]) -> dict[str, Any]:
    platform = config["platform"]
    zone = config["zones"][0]
    if platform == "local":
        module, args = "experiments.local.actions", {"zone": zone, "state_file": "${state_file}"}
        down = action("zone-down", module, "zone_down", args, secrets=True)
        up = action("zone-up", module, "zone_up", args, secrets=True)
    else:
        module = "experiments.kubernetes.actions"
        down = action(
            "zone-power-loss",
            module,
            "zone_down",
            {
                "zone": zone,
                "label_selector": "${active_selector}",
                "state_file": "${state_file}",
                "ns": "${namespace}",
                "zone_label": "${zone_label}",
            },
        )
        up = action(
            "zone-up",
            module,
            "zone_up",
            {"zone": zone, "state_file": "${state_file}", "zone_label": "${zone_label}"},
        )
    return experiment(
        NAME,
        config,
        title=f"Losing zone {zone} keeps the recommender within its SLO",
        description=(
            f"Every replica in zone {zone} goes down and nothing is scheduled there "
            "(Kubernetes: its nodes are cordoned and the recommender pods on them "
            "force-deleted, power-loss style, not drained). Availability stays at or above "
            "the SLO during the loss because the router fails over and standby absorbs the "
            "load; the lost replicas are rescheduled in the other zones and the active "
            "capacity is back within the RTO while the zone is still down. Then the zone "
            "returns and its replicas move home. The rollback brings the zone back if the "
            "run stops half-way."
        ),
        tags=["zone", "failover"],
        steady_state=hypothesis(platform),
        method=[
            recorder(duration_s=40.0 if platform == "local" else 300.0),
            pause_probe("baseline", 1.5),
            down,
            recovery_probe(platform, "capacity-rescheduled-within-rto", per_zone=False),
            pause_probe("hold-zone-loss", "${fault_hold_s}"),
            up,
            recovery_probe(platform, "zone-back-home", timeout_s="${zone_return_timeout_s}"),
        ],
        rollbacks=[up],
    )
