"""replica-loss: one active replica dies abruptly; the SLO holds and it is replaced."""

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

NAME = "replica-loss"
PLATFORMS = ("local", "kubernetes")


def build(config: dict[str, Any]) -> dict[str, Any]:
    platform = config["platform"]
    if platform == "local":
        kill = action(
            "kill-one-active-replica",
            "experiments.local.actions",
            "kill_replicas",
            {"selector": "${active_selector}", "count": 1, "signal": "KILL"},
            secrets=True,
        )
    else:
        kill = action(
            "delete-one-active-pod-grace-0",
            "chaosk8s.pod.actions",
            "terminate_pods",
            {
                "label_selector": "${active_selector}",
                "ns": "${namespace}",
                "qty": 1,
                "rand": True,
                "grace_period": 0,
            },
        )
    return experiment(
        NAME,
        config,
        title="Losing one active replica does not break the SLO",
        description=(
            "SIGKILL one active replica (Kubernetes: delete its pod with grace 0). The router "
            "retries on the others, so availability, p99 and the degraded ratio stay within "
            "the SLO during and after, and the replica is replaced within the RTO."
        ),
        tags=["replica", "pod"],
        steady_state=hypothesis(platform),
        method=[
            recorder(duration_s=18.0 if platform == "local" else 90.0),
            pause_probe("baseline", 1.5),
            kill,
            recovery_probe(platform, "replica-replaced-within-rto"),
            pause_probe("observe-after-recovery", "${fault_hold_s}"),
        ],
        rollbacks=[],
    )
