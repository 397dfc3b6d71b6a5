"""slow-replica: one replica hangs (SIGSTOP); router timeouts and retries keep p99 in budget."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import experiment, fault, hypothesis, pause_probe, recorder

NAME = "slow-replica"
PLATFORMS = ("local",)  # the Kubernetes API cannot pause a container
BLAST_RADIUS = 1  # ``blast_replicas`` hang (default 1); nothing is lost
NO_ALERT = (
    "the router ejects the hung replica and its zone keeps a healthy one; p99 and degraded "
    "alerts are over 5 m rates, which a few seconds of fault cannot and should not move"
)


def build(config: dict[str, Any]) -> dict[str, Any]:
    thaw = fault(config, "resume-replica", "thaw_replicas")
    return experiment(
        NAME,
        config,
        title="A hung replica does not push p99 over budget",
        description=(
            "Freeze one active replica with SIGSTOP: it keeps its socket open but answers "
            "nothing, the worst kind of slow. The router's per-try timeout and retries "
            "keep availability and p99 within the SLO. SIGCONT in the method, and again "
            "in the rollback if the run stops half-way."
        ),
        tags=["latency", "replica"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(
                config,
                "freeze-one-replica",
                "freeze_replicas",
                {"selector": "${active_selector}", "count": "${blast_replicas}"},
            ),
            pause_probe("hold-frozen", "${fault_hold_s}"),
            thaw,
        ],
        rollbacks=[thaw],
    )
