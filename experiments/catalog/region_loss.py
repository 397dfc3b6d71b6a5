"""region-loss: the primary region dies whole; the front door fails over to the DR region."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import experiment, fault, pause_probe, probe, recorder
from experiments.catalog.regional import (
    FAILOVER,
    REGIONS,
    dr_whole_probe,
    regional_hypothesis,
    require_regions,
)

NAME = "region-loss"
PLATFORMS = ("local",)
BLAST_RADIUS = 9  # a whole region, processes and store
REQUIRES = "regions"  # only for a deployment with a DR region (catalog/__init__.py)
NO_ALERT = (
    "the front door fails over by its health checks within seconds; no rule watches the "
    "front door yet, and the primary's own targets are lost with it"
)


def _wait_region(name: str, region: str) -> dict[str, Any]:
    return probe(
        name,
        REGIONS,
        "wait_for_region",
        {"region": region, "timeout_s": "${slo_rto_s}"},
    )


def build(config: dict[str, Any]) -> dict[str, Any]:
    require_regions(NAME, config)
    up = fault(config, "primary-region-up", "region_up", {"role": "primary"})
    body = experiment(
        NAME,
        config,
        title="Losing the primary region moves traffic to the DR region within the RTO",
        description=(
            "Under load through the front door, the primary region dies whole: every "
            "process SIGKILLed and its model store moved away. Traffic moves to the DR "
            "region within the RTO; the SLO is judged through the front door with the "
            "failover budget (availability >= 99%, p99 <= 1 s, since a request caught by "
            "the death is retried in the DR region). The DR replicas serve only versions "
            "whole in the DR store, and the RPO (versions and seconds the DR store lacks) "
            "is measured just before the loss. Failback is part of the method: the "
            "primary comes back and traffic returns to it."
        ),
        tags=["region", "failover", "dr"],
        steady_state=regional_hypothesis("the front door meets the failover budget"),
        method=[
            recorder(),
            probe("rpo-before-loss", REGIONS, "replication_rpo", {}),
            pause_probe("baseline", 1.5),
            fault(config, "primary-region-down", "region_down", {"role": "primary"}),
            _wait_region("traffic-on-dr-within-rto", "${dr_region}"),
            dr_whole_probe("dr-serves-only-whole-versions-after-failover"),
            pause_probe("hold-region-loss", "${fault_hold_s}"),
            up,
            _wait_region("traffic-back-on-primary", "${primary_region}"),
        ],
        rollbacks=[up],
    )
    body["configuration"].update({k: v for k, v in FAILOVER.items() if k not in config})
    return body
