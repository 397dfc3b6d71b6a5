"""bad-model-rollout: a degraded candidate is refused, or rolled back by the canary."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, recorder

NAME = "bad-model-rollout"
PLATFORMS = ("local",)
BLAST_RADIUS = 3  # a candidate model; the canary sees a fraction of traffic
NO_ALERT = "the promotion gate refuses the candidate before it serves; users never notice"
MODULE = "experiments.faults.model_rollout"


def build(config: dict[str, Any]) -> dict[str, Any]:
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
        steady_state=hypothesis(config, quality=True),
        method=[
            recorder(),
            pause_probe("baseline", 1.0),
            action("publish-degraded-candidate", MODULE, "publish_degraded_candidate"),
            action("try-to-promote-candidate", MODULE, "try_promote"),
            action("canary-check", MODULE, "canary_check"),
            pause_probe("observe", 2.0),
        ],
        rollbacks=[action("roll-back-candidate", MODULE, "rollback_candidate")],
    )
