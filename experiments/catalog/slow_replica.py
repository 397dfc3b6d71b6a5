"""slow-replica: one replica hangs (SIGSTOP); router timeouts and retries keep p99 in budget."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, recorder

NAME = "slow-replica"
PLATFORMS = ("local",)


def build(config: dict[str, Any]) -> dict[str, Any]:
    module = "experiments.local.actions"
    cont = action(
        "resume-replica", module, "cont_replicas", {"state_file": "${state_file}"}, secrets=True
    )
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
        steady_state=hypothesis("local"),
        method=[
            recorder(duration_s=12.0),
            pause_probe("baseline", 1.5),
            action(
                "freeze-one-replica",
                module,
                "stop_replicas",
                {"selector": "${active_selector}", "state_file": "${state_file}", "count": 1},
                secrets=True,
            ),
            pause_probe("hold-frozen", "${fault_hold_s}"),
            cont,
        ],
        rollbacks=[cont],
    )
