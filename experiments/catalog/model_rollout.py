"""model-rollout: a promotion and its rollback reach every replica within the bound."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, probe, recorder

NAME = "model-rollout"
PLATFORMS = ("local",)  # versions are read through the local control API's replica list
BLAST_RADIUS = 3.5  # every replica swaps models, but to a version the gate accepted
NO_ALERT = "a good version rolls out and back; users never notice"
MODULE = "experiments.faults.model_rollout"
PROBES = "experiments.probes.rollout"
# The bound for every ready replica to serve the new version, then the old one again.
# Half the RTO, not the deployment's poll interval: the poll interval is the very
# setting under test (a bound derived from a 100000 s poll would never fail), while the
# RTO is the promise that a rolled-back bad model is off every replica in time; half of
# it for each move keeps rollout + rollback inside one RTO. Locally that is 15 s: three
# of the replicas' default 5 s polls, room for one poll and a load under drill traffic.
BOUND_SHARE_OF_RTO = 0.5


def build(config: dict[str, Any]) -> dict[str, Any]:
    def converged(name: str, target: str) -> dict[str, Any]:
        arguments = {"target": target, "within_s": "${model_rollout_within_s}"}
        return probe(name, PROBES, "every_replica_serves", arguments, secrets=True)

    body = experiment(
        NAME,
        config,
        title="A promoted model and its rollback reach every replica in time",
        description=(
            "Under load, publish a good new version (the stable version's verified files "
            "re-published as a new immutable version) and promote it through the "
            "promotion gate, which scores it itself and must accept it. Every ready "
            "replica (active and standby) must serve it on GET /v1/model within half "
            "the RTO, picked up by its alias poll alone. Then roll stable back with the "
            "store's idempotent rollback: every ready replica must be back on the old "
            "version within the same bound. The SLO holds throughout. The rollback "
            "moves stable back off the new version if the run stopped half-way."
        ),
        tags=["model", "rollout", "hot-reload"],
        steady_state=hypothesis(config),
        method=[
            recorder(),
            pause_probe("baseline", 0.5),
            action("publish-good-version", MODULE, "publish_good_candidate"),
            action("promote-through-gate", MODULE, "promote_through_gate"),
            converged("every-replica-serves-new-version", "new"),
            action("roll-back-stable", MODULE, "roll_back_promotion"),
            converged("every-replica-back-on-old-version", "old"),
        ],
        rollbacks=[action("restore-stable-alias", MODULE, "rollback_candidate")],
    )
    conf = body["configuration"]
    conf.setdefault("model_rollout_within_s", float(config["slo_rto_s"]) * BOUND_SHARE_OF_RTO)
    return body
