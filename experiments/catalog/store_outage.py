"""store-outage: the model store is unreachable while replicas restart."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, recorder
from experiments.catalog.restarts import restart_zone_replicas

NAME = "store-outage"
PLATFORMS = ("local", "kubernetes")


def build(config: dict[str, Any]) -> dict[str, Any]:
    platform = config["platform"]
    module = f"experiments.{platform}.actions"
    state = {"state_file": "${state_file}"}
    if platform == "local":
        outage = action(
            "move-store-away", module, "store_outage", {"store_url": "${model_store_url}", **state}
        )
        restore = action("bring-store-back", module, "restore_store", state)
    else:
        outage = action(
            "deny-replica-egress",
            module,
            "store_outage",
            {"label_selector": "${active_selector}", "ns": "${namespace}", **state},
        )
        restore = action(
            "allow-replica-egress", module, "restore_store", {"ns": "${namespace}", **state}
        )
    return experiment(
        NAME,
        config,
        title="Replicas restart from their verified cache while the store is unreachable",
        description=(
            "Make the model store unreachable (local: its directory is moved away; "
            "Kubernetes: a deny-egress NetworkPolicy on the replicas), then restart "
            "replicas. They start from their verified local cache, so the SLO holds. "
            "The rollback makes the store reachable again."
        ),
        tags=["store", "cache"],
        steady_state=hypothesis(platform),
        method=[
            recorder(duration_s=14.0 if platform == "local" else 120.0),
            pause_probe("baseline", 1.5),
            outage,
            *restart_zone_replicas(config),
            pause_probe("serve-without-store", 2.0),
        ],
        rollbacks=[restore],
    )
