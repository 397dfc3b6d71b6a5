"""model-corruption: the stable weights rot in the store; checksums refuse them."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, experiment, hypothesis, pause_probe, recorder
from experiments.catalog.restarts import restart_one_replica

NAME = "model-corruption"
PLATFORMS = ("local", "kubernetes")


def build(config: dict[str, Any]) -> dict[str, Any]:
    platform = config["platform"]
    module = f"experiments.{platform}.actions"
    state = {"state_file": "${state_file}"}
    corrupt = action(
        "corrupt-stable-weights",
        module,
        "corrupt_model",
        {
            "store_url": "${model_store_url}",
            "model": "${model_name}",
            "version": "stable",
            "file": "model.safetensors",
            **state,
        },
    )
    restore = action("restore-weights", module, "restore_model", state)
    return experiment(
        NAME,
        config,
        title="Corrupted weights in the store are refused and the last good model keeps serving",
        description=(
            "Overwrite the stable version's model.safetensors in the store with same-size "
            "garbage, then restart a replica. Its sha256 check refuses the corrupted "
            "version (it loads the previous version if there is one, else stays unready "
            "rather than serve bad weights); the replicas already running keep serving the "
            "last good version, so the SLO and online quality hold. The rollback restores "
            "the original bytes (S3: the previous object version, through bucket "
            "versioning), after which the refused replica loads it again."
        ),
        tags=["model", "store", "integrity"],
        steady_state=hypothesis(platform, quality=True),
        method=[
            recorder(duration_s=14.0 if platform == "local" else 120.0),
            pause_probe("baseline", 1.5),
            corrupt,
            restart_one_replica(config),
            pause_probe("serve-while-corrupted", "${fault_hold_s}"),
        ],
        rollbacks=[restore],
    )
