"""replica-loss: one active replica dies abruptly; the SLO holds and it is replaced."""

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

NAME = "replica-loss"
PLATFORMS = ("local", "kubernetes")
BLAST_RADIUS = 2  # replicas die (``blast_replicas``, default 1); traffic moves
# Run at the design peak (experiments.design_peak): losing capacity is what it tests.
AT_DESIGN_PEAK = True
NO_ALERT = (
    "one replica of a zone is lost and replaced; the zone keeps at least one healthy active "
    "replica and the SLO holds, so no page is due"
)


def build(config: dict[str, Any]) -> dict[str, Any]:
    return experiment(
        NAME,
        config,
        title="Losing active replicas (blast_replicas, default one) does not break the SLO",
        description=(
            "SIGKILL one active replica (Kubernetes: delete its pod with grace 0). The router "
            "retries on the others, so availability, p99 and the degraded ratio stay within "
            "the SLO during and after, and the replica is replaced within the RTO: the killed "
            "replica runs again under a new pid and is ready (Kubernetes: its pod is gone "
            "and as many pods are ready as before)."
        ),
        tags=["replica", "pod"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(
                config,
                "kill-one-active-replica",
                "kill_replicas",
                {"selector": "${active_selector}", "count": "${blast_replicas}"},
            ),
            driver_probe(
                config,
                "replica-replaced-within-rto",
                "wait_for_replacement",
                {"timeout_s": "${slo_rto_s}"},
            ),
            pause_probe("observe-after-recovery", "${fault_hold_s}"),
        ],
        rollbacks=[],
    )
