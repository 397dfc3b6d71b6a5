"""Undo whatever a crashed run left pending in a rollback state file.

``python -m experiments rollback --state FILE`` walks the pending records newest first
and reverts each with the same idempotent undo the experiment's rollbacks use. Each
fault driver owns its undo table (record kind → undo); this module only merges them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import aws, file_store, kubernetes, local, model_rollout, s3_store


def _merge(*tables: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    merged: dict[str, Callable[..., Any]] = {}
    for table in tables:
        clash = set(merged) & set(table)
        if clash:
            raise RuntimeError(f"two fault drivers claim the record kinds {sorted(clash)}")
        merged.update(table)
    return merged


REVERTERS = _merge(
    local.UNDO, kubernetes.UNDO, file_store.UNDO, s3_store.UNDO, aws.UNDO, model_rollout.UNDO
)


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
