"""store-outage: the model store is unreachable while replicas restart."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import experiment, fault, hypothesis, pause_probe, recorder

NAME = "store-outage"
PLATFORMS = ("local", "kubernetes")
BLAST_RADIUS = 6  # the model store for every replica; one zone's worth restarts
NO_ALERT = "replicas restart from their verified cache and keep serving; users never notice"


def build(config: dict[str, Any]) -> dict[str, Any]:
    return experiment(
        NAME,
        config,
        title="Replicas restart from their verified cache while the store is unreachable",
        description=(
            "Make the model store unreachable (local: its directory is moved away; "
            "Kubernetes: the stack's replicas-to-store NetworkPolicy loses its allowing "
            "rule, since policies add up and a new deny policy would take nothing away), "
            "then restart one zone's worth of replicas one at a time. Each must come back "
            "ready from its verified local cache, or the action fails; the SLO holds. "
            "The rollback makes the store reachable again."
        ),
        tags=["store", "cache"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(config, "cut-store-off", "store_outage"),
            fault(
                config,
                "restart-replicas-without-store",
                "restart_replicas",
                {"selector": "${active_selector}", "count": "${replicas_per_zone}"},
            ),
            pause_probe("serve-without-store", 2.0),
        ],
        rollbacks=[fault(config, "bring-store-back", "restore_store")],
    )
