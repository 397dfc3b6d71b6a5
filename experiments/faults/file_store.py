"""Faults of a ``file://`` model store: the directory moves away, or a weights file rots.

Every fault writes its record to the rollback state file *before* it changes anything,
and every undo is idempotent, so ``python -m experiments rollback --state FILE`` can
finish the job after a crash. Replicas are not this driver's business: those verbs
refuse, naming the driver that has them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.faults.common import setting, state_file
from experiments.faults.corruption import corrupt_bytes, target
from experiments.faults.refusal import CORRUPTED
from experiments.faults.store_has_no_replicas import (
    check_refusal,
    freeze_replicas,
    kill_replicas,
    ready_capacity,
    region_down,
    region_up,
    restart_replicas,
    restore_replication,
    slow_replication,
    thaw_replicas,
    wait_for_capacity,
    wait_for_replacement,
    wait_for_zone_return,
    zone_down,
    zone_hang,
    zone_up,
)
from model.store import open_store

__all__ = [
    "check_refusal",
    "corrupt_model",
    "freeze_replicas",
    "kill_replicas",
    "ready_capacity",
    "region_down",
    "region_up",
    "restart_replicas",
    "restore_model",
    "restore_replication",
    "restore_store",
    "slow_replication",
    "store_outage",
    "thaw_replicas",
    "wait_for_capacity",
    "wait_for_replacement",
    "wait_for_zone_return",
    "zone_down",
    "zone_hang",
    "zone_up",
]

OUTAGE = "store.outage"
CORRUPT_FILE = "store.corrupt_file"


def _local_root(store_url: str) -> Path:
    if not store_url.startswith("file://"):
        raise ActivityFailed(f"store {store_url} is not a file:// store")
    return Path(open_store(store_url).root)


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Make the ``file://`` model store unreachable by renaming its directory away.

    The rename is recorded in the state file first; ``restore_store`` moves it back.
    """
    store_url = str(setting(configuration, "model_store_url"))
    root = _local_root(store_url)
    if not root.is_dir():
        raise ActivityFailed(f"store directory {root} does not exist (already away?)")
    away = root.with_name(f".{root.name}.chaos-outage")
    if away.exists():
        raise ActivityFailed(f"{away} exists: a previous outage was not restored")
    path = state_file(configuration)
    record_id = state.record(path, OUTAGE, path=str(root), moved_to=str(away))
    try:
        os.rename(root, away)
    except OSError as exc:
        state.mark_reverted(path, record_id)
        raise ActivityFailed(f"cannot move store directory {root} away: {exc}") from exc
    return {"store": store_url, "moved_to": str(away)}


def undo_outage(path: str, moved_to: str) -> bool:
    """Move the store directory back; True if moved, False if it already was back."""
    root, away = Path(path), Path(moved_to)
    if not away.exists():
        return False
    if root.exists():
        raise ActivityFailed(
            f"cannot restore store {root}: it exists again while {away} still holds the "
            "original; merge them by hand"
        )
    os.rename(away, root)
    return True


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Bring back every store directory a store outage moved away (idempotent)."""
    path = state_file(configuration)
    restored = []
    for entry in state.pending(path, OUTAGE):
        if undo_outage(**entry["params"]):
            restored.append(entry["params"]["path"])
        state.mark_reverted(path, entry["id"])
    return restored


def corrupt_model(
    version: str = "stable",
    file: str = "model.safetensors",
    mode: str = "silent",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Corrupt one file of a model version in the store (by default the stable weights).

    ``version`` may be an alias (``stable``, ``previous``). ``mode`` is ``silent``
    (tensor bytes flipped, header valid: only the sha256 catches it) or ``garbage``.
    The original bytes are kept next to the state file for ``restore_model``.
    """
    store_url, _store, model, resolved = target(configuration, version, file)
    path = _local_root(store_url) / model / "versions" / resolved / file
    original = path.read_bytes()
    bad = corrupt_bytes(original, mode)
    records = state_file(configuration)
    keep = Path(f"{records}.d") / f"{resolved}-{file}.orig"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_bytes(original)
    sha256 = hashlib.sha256(original).hexdigest()
    state.record(records, CORRUPT_FILE, path=str(path), original=str(keep), sha256=sha256)
    state.note(records, CORRUPTED, version=resolved, file=file, mode=mode)
    tmp = path.with_name(f".{file}.chaos")
    tmp.write_bytes(bad)
    os.replace(tmp, path)
    return {"version": resolved, "file": file, "mode": mode, "path": str(path)}


def undo_corrupt_file(path: str, original: str, sha256: str) -> bool:
    """Write the kept original bytes back unless the file already holds them."""
    target_path = Path(path)
    if target_path.exists() and hashlib.sha256(target_path.read_bytes()).hexdigest() == sha256:
        return False
    if not Path(original).exists():
        raise ActivityFailed(f"cannot restore {path}: the kept original {original} is gone")
    tmp = target_path.with_name(f".{target_path.name}.restore")
    shutil.copyfile(original, tmp)
    os.replace(tmp, target_path)
    return True


def restore_model(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every model file a corruption changed (idempotent)."""
    path = state_file(configuration)
    restored = []
    for entry in state.pending(path, CORRUPT_FILE):
        if undo_corrupt_file(**entry["params"]):
            restored.append(entry["params"]["path"])
        state.mark_reverted(path, entry["id"])
    return restored


UNDO = {OUTAGE: undo_outage, CORRUPT_FILE: undo_corrupt_file}
