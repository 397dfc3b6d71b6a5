"""replication-lag: promote while replication is slow and shuffled; DR never serves half."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, fault, pause_probe, probe, recorder
from experiments.catalog.regional import (
    FAILOVER,
    REGIONS,
    dr_whole_probe,
    regional_hypothesis,
    require_regions,
)
from experiments.detection import ExpectedAlert

NAME = "replication-lag"
PLATFORMS = ("local",)
BLAST_RADIUS = 8  # the DR region runs behind (a regional scale); the primary is untouched
REQUIRES = "regions"  # only for a deployment with a DR region (catalog/__init__.py)
# The DR region serves an older version than the primary past the replication window
# (the drill's rules shorten it): the RPO page. The lag below outlasts it.
ALERTS = (ExpectedAlert("RecdrillDRRegionServesStaleVersion", within_s=60.0),)
ROLLOUT = "experiments.faults.model_rollout"
# Slow enough to outlast a replica's alias poll and the drill's alert window, short
# enough to keep the experiment near 45 s on one machine.
DEFAULTS: dict[str, Any] = {
    "replication_drill_lag_s": 15.0,
    "replication_drill_spread_s": 4.0,
    "replication_watch_s": 12.0,
    "replication_converge_timeout_s": 30.0,
}


def build(config: dict[str, Any]) -> dict[str, Any]:
    require_regions(NAME, config)
    restore = fault(config, "restore-replication", "restore_replication")
    body = experiment(
        NAME,
        config,
        title="A version promoted while replication lags never reaches DR half-copied",
        description=(
            "Replication to the DR store is slowed and shuffled (each object waits "
            "lag + a random spread, so an alias or a manifest can land before the files "
            "it names), then a new version is published and promoted in the primary "
            "store. While replication lags, every version a DR replica serves is whole "
            "in the DR store, and the stale-DR-version alert fires where Prometheus "
            "watches. Once the lag is restored the DR region converges on the new "
            "version. The rollback restores the lag and moves stable back."
        ),
        tags=["region", "replication", "dr"],
        steady_state=regional_hypothesis("the front door meets its budget; DR serves whole"),
        method=[
            recorder(),
            pause_probe("baseline", 1.0),
            fault(
                config,
                "slow-replication",
                "slow_replication",
                {
                    "lag_s": "${replication_drill_lag_s}",
                    "spread_s": "${replication_drill_spread_s}",
                },
            ),
            action("publish-and-promote-new-version", ROLLOUT, "publish_and_promote_copy"),
            dr_whole_probe("dr-never-serves-partial-while-lagging", "${replication_watch_s}"),
            restore,
            probe(
                "dr-converges-on-new-version",
                REGIONS,
                "wait_dr_converged",
                {"timeout_s": "${replication_converge_timeout_s}"},
                secrets=True,
            ),
        ],
        rollbacks=[restore, action("roll-back-promotion", ROLLOUT, "rollback_candidate")],
    )
    conf = body["configuration"]
    conf.update({k: v for k, v in {**FAILOVER, **DEFAULTS}.items() if k not in config})
    return body
