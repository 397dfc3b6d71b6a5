"""model-corruption: the stable weights rot in the store; checksums refuse them."""

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
from experiments.detection import ExpectedAlert

NAME = "model-corruption"
PLATFORMS = ("local", "kubernetes")
BLAST_RADIUS = 4  # stable weights corrupted; ``blast_replicas`` restart onto them
# The refused load is counted (verification_failed); the alert keeps firing for the
# rules' load-failure window after it, so it is not required to resolve within the drill.
ALERTS = (ExpectedAlert("RecdrillModelLoadFailing", within_s=60.0, resolve=False),)


def build(config: dict[str, Any]) -> dict[str, Any]:
    return experiment(
        NAME,
        config,
        title="Corrupted weights in the store are refused and the last good model keeps serving",
        description=(
            "Flip bytes inside the tensor data of the stable version's model.safetensors "
            "in the store, leaving the header valid (silent corruption: the file still "
            "parses, only the manifest's sha256 can tell), then restart a replica. Its "
            "checksum check refuses the corrupted version, which the experiment checks on "
            "the replica itself: its verification_failed load failures went up and it does "
            "not serve that version (it loads the previous version if there is one, else "
            "stays unready rather than serve bad weights); the "
            "replicas already running keep serving the last good version, so the SLO and "
            "online quality hold. The rollback restores the original bytes (S3: the "
            "previous object version, through bucket versioning)."
        ),
        tags=["model", "store", "integrity"],
        steady_state=hypothesis(config, quality=True),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(
                config,
                "corrupt-stable-weights",
                "corrupt_model",
                {"version": "stable", "file": "model.safetensors", "mode": "silent"},
            ),
            fault(
                config,
                "restart-one-replica",
                "restart_replicas",
                {
                    "selector": "${active_selector}",
                    "count": "${blast_replicas}",
                    "wait_ready": False,
                },
            ),
            driver_probe(
                config,
                "restarted-replica-refused-the-corruption",
                "check_refusal",
                {"timeout_s": "${slo_rto_s}"},
            ),
            pause_probe("serve-while-corrupted", "${fault_hold_s}"),
        ],
        rollbacks=[fault(config, "restore-weights", "restore_model")],
    )
