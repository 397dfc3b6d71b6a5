"""bad-model-rollout: a degraded candidate is refused, or rolled back by the canary."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, recorder

NAME = "bad-model-rollout"
PLATFORMS = ("local",)
MODULE = "experiments.store.rollout"


def build(config: dict[str, Any]) -> dict[str, Any]:
    state = {"state_file": "${state_file}"}
    return experiment(
        NAME,
        config,
        title="A degraded model never reaches users for long",
        description=(
            "Publish a degraded candidate (untrained weights, offline metrics below the "
            "popularity baseline) and try to promote it. The promotion gate must refuse "
            "it; if it does not, the canary check sees online quality below the floor and "
            "rolls stable back. Online quality stays above the floor throughout."
        ),
        tags=["model", "rollout", "quality"],
        steady_state=hypothesis("local", quality=True),
        method=[
            recorder(duration_s=12.0),
            pause_probe("baseline", 1.0),
            action(
                "publish-degraded-candidate",
                MODULE,
                "publish_degraded_candidate",
                {"store_url": "${model_store_url}", "model": "${model_name}", **state},
            ),
            action("try-to-promote-candidate", MODULE, "try_promote", state),
            action(
                "canary-check",
                MODULE,
                "canary_check",
                {"endpoint": "${endpoint}", "quality_floor": "${slo_quality_floor}", **state},
            ),
            pause_probe("observe", 2.0),
        ],
        rollbacks=[action("roll-back-candidate", MODULE, "rollback_candidate", state)],
    )
