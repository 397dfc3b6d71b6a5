"""Undo whatever a crashed run left pending in a rollback state file.

``python -m experiments rollback --state FILE`` walks the pending records newest first
and reverts each with the same idempotent undo the experiment's rollbacks use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.local import control
from experiments.store import actions as store_actions
from experiments.store import rollout


def _local_zone_up(zone: str, control_url: str, deployment_file: str | None) -> Any:
    config = {"control_url": control_url, "deployment_file": deployment_file}
    return control.call("POST", f"/v1/zones/{zone}/up", config, None)


def _local_cont(replicas: list[str], control_url: str, deployment_file: str | None) -> Any:
    config = {"control_url": control_url, "deployment_file": deployment_file}
    return [
        control.call(
            "POST",
            "/v1/replicas/delete",
            config,
            None,
            {"selector": f"replica={replica}", "signal": "CONT"},
        )
        for replica in replicas
    ]


def _k8s_zone_up(**params: Any) -> Any:
    from experiments.kubernetes.actions import undo_zone_down

    return undo_zone_down(**params)


def _k8s_store(**params: Any) -> Any:
    from experiments.kubernetes.actions import undo_store_outage

    return undo_store_outage(**params)


REVERTERS: dict[str, Callable[..., Any]] = {
    store_actions.OUTAGE: store_actions.undo_outage,
    store_actions.CORRUPT_FILE: store_actions.undo_corrupt_file,
    store_actions.CORRUPT_S3: store_actions.undo_corrupt_s3,
    rollout.CANDIDATE: rollout.undo_candidate,
    "local.zone_down": _local_zone_up,
    "local.stopped": _local_cont,
    "kubernetes.zone_down": _k8s_zone_up,
    "kubernetes.store_outage": _k8s_store,
}


def rollback_state(path: str | Path) -> tuple[list[str], list[str]]:
    """Revert every pending record; returns (reverted, failed) descriptions."""
    reverted, failed = [], []
    for entry in state.pending(path):
        what = f"{entry['kind']} {entry['params']}"
        undo = REVERTERS.get(entry["kind"])
        if undo is None:
            failed.append(f"{what}: unknown kind")
            continue
        try:
            undo(**entry["params"])
        except (ActivityFailed, OSError) as exc:
            failed.append(f"{what}: {exc}")
            continue
        state.mark_reverted(path, entry["id"])
        reverted.append(what)
    return reverted, failed
