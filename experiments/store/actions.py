"""Store faults: make the store unreachable, corrupt a version's weights, and undo both.

Every fault writes a record to the rollback state file *before* it changes anything,
and every undo is idempotent, so ``python -m experiments rollback --state FILE`` can
finish the job after a crash.
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
from experiments.store import s3
from model.store import StoreError, open_store

__all__ = ["corrupt_model", "restore_model", "restore_store", "store_outage"]

OUTAGE = "store.outage"
CORRUPT_FILE = "store.corrupt_file"
CORRUPT_S3 = "store.corrupt_s3"


def _local_root(store_url: str) -> Path:
    if not store_url.startswith("file://"):
        raise ActivityFailed(
            f"store {store_url} is not a file:// store; on Kubernetes use the "
            "NetworkPolicy store outage instead"
        )
    return Path(open_store(store_url).root)


def store_outage(
    store_url: str,
    state_file: str,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Make a ``file://`` model store unreachable by renaming its directory away.

    The rename is recorded in ``state_file`` first; ``restore_store`` moves it back.
    """
    root = _local_root(store_url)
    if not root.is_dir():
        raise ActivityFailed(f"store directory {root} does not exist (already away?)")
    away = root.with_name(f".{root.name}.chaos-outage")
    if away.exists():
        raise ActivityFailed(f"{away} exists: a previous outage was not restored")
    record_id = state.record(state_file, OUTAGE, path=str(root), moved_to=str(away))
    try:
        os.rename(root, away)
    except OSError as exc:
        state.mark_reverted(state_file, record_id)
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


def restore_store(
    state_file: str, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Bring back every store directory a store outage moved away (idempotent)."""
    restored = []
    for entry in state.pending(state_file, OUTAGE):
        if undo_outage(**entry["params"]):
            restored.append(entry["params"]["path"])
        state.mark_reverted(state_file, entry["id"])
    return restored


def corrupt_model(
    store_url: str,
    model: str,
    state_file: str,
    version: str = "stable",
    file: str = "model.safetensors",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Corrupt one file of a model version in the store (by default the stable weights).

    ``version`` may be an alias (``stable``, ``previous``). A ``file://`` store keeps the
    original bytes next to the state file; an ``s3://`` store needs bucket versioning and
    is restored from the previous object version. Same size, different bytes: only a
    checksum check can tell.
    """
    try:
        store = open_store(store_url)
        resolved = store.resolve(model, version) if version in ("stable", "previous") else version
        store.read_manifest(model, resolved).files[file]
    except (StoreError, KeyError) as exc:
        raise ActivityFailed(f"cannot corrupt {model} {version}/{file}: {exc}") from exc
    if store_url.startswith("s3://"):
        url = f"s3://{store.root}/{model}/versions/{resolved}/{file}"
        details = s3.read_good(url)
        good = details.pop("good")
        state.record(state_file, CORRUPT_S3, **details)
        bad_version = s3.put_corrupt(details["bucket"], details["key"], good)
        return {"version": resolved, "file": file, "bad_version": bad_version, **details}
    path = _local_root(store_url) / model / "versions" / resolved / file
    original = path.read_bytes()
    keep = Path(f"{state_file}.d") / f"{resolved}-{file}.orig"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_bytes(original)
    state.record(
        state_file,
        CORRUPT_FILE,
        path=str(path),
        original=str(keep),
        sha256=hashlib.sha256(original).hexdigest(),
    )
    tmp = path.with_name(f".{file}.chaos")
    tmp.write_bytes(s3.flip(original))
    os.replace(tmp, path)
    return {"version": resolved, "file": file, "path": str(path)}


def undo_corrupt_file(path: str, original: str, sha256: str) -> bool:
    """Write the kept original bytes back unless the file already holds them."""
    target = Path(path)
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return False
    if not Path(original).exists():
        raise ActivityFailed(f"cannot restore {path}: the kept original {original} is gone")
    tmp = target.with_name(f".{target.name}.restore")
    shutil.copyfile(original, tmp)
    os.replace(tmp, target)
    return True


def undo_corrupt_s3(bucket: str, key: str, good_version: str, good_sha256: str, **_: Any) -> bool:
    return s3.restore_object(bucket, key, good_version, good_sha256)


def restore_model(
    state_file: str, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Restore every model file a corruption changed (idempotent)."""
    restored = []
    for entry in state.pending(state_file, CORRUPT_FILE):
        if undo_corrupt_file(**entry["params"]):
            restored.append(entry["params"]["path"])
        state.mark_reverted(state_file, entry["id"])
    for entry in state.pending(state_file, CORRUPT_S3):
        if undo_corrupt_s3(**entry["params"]):
            restored.append(f"s3://{entry['params']['bucket']}/{entry['params']['key']}")
        state.mark_reverted(state_file, entry["id"])
    return restored
