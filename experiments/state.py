"""The rollback state file: every fault records what it changed before changing it.

A crashed ``chaos run`` (or a killed runner) leaves the system half-broken. Because each
fault appends a record here first, ``python -m experiments rollback --state FILE`` can
undo whatever is still pending later, and every rollback activity is idempotent: it
undoes only records that are not yet marked reverted.

File format (JSON)::

    {"records": [{"id": "3f2a…", "kind": "local.zone_down", "params": {...},
                  "created": <epoch>, "reverted": false}]}

A record with ``"note": true`` is an observation, not a change (which replicas a kill
hit, which version a corruption hit): it is born reverted, so rollback never touches
it, and later probes read it back with ``notes``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class StateFileError(ValueError):
    """The state file exists but is not a rollback state file."""


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """Load the state under an exclusive lock and write it back atomically on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a") as lock_fh:
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
        state = load(path)
        yield state
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any]:
    """The state in ``path``; an absent file is an empty state."""
    path = Path(path)
    if not path.exists():
        return {"records": []}
    try:
        state = json.loads(path.read_text() or '{"records": []}')
    except ValueError as exc:
        raise StateFileError(f"{path}: not a JSON state file ({exc})") from exc
    if not isinstance(state, dict) or not isinstance(state.get("records"), list):
        raise StateFileError(f"{path}: expected an object with a 'records' list")
    return state


def record(path: str | Path, kind: str, /, **params: Any) -> str:
    """Append a pending change of ``kind`` and return its id."""
    record_id = secrets.token_hex(6)
    with _locked(Path(path)) as state:
        state["records"].append(
            {
                "id": record_id,
                "kind": kind,
                "params": params,
                "created": time.time(),
                "reverted": False,
            }
        )
    return record_id


def pending(path: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records not yet reverted (newest first, the order to undo them in)."""
    records = load(path)["records"]
    return [
        r for r in reversed(records) if not r["reverted"] and (kind is None or r["kind"] == kind)
    ]


def note(path: str | Path, kind: str, /, **params: Any) -> str:
    """Record an observation (what a fault hit) that has nothing to undo; returns its id.

    Notes are never pending, so rollback skips them; a later probe reads them back
    with ``notes`` (a kill's victims, to wait for their replacements).
    """
    record_id = secrets.token_hex(6)
    with _locked(Path(path)) as state:
        state["records"].append(
            {
                "id": record_id,
                "kind": kind,
                "params": params,
                "created": time.time(),
                "reverted": True,
                "note": True,
            }
        )
    return record_id


def notes(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The notes of ``kind``, newest first."""
    records = load(path)["records"]
    return [r for r in reversed(records) if r.get("note") and r["kind"] == kind]


def mark_reverted(path: str | Path, record_id: str) -> None:
    with _locked(Path(path)) as state:
        for entry in state["records"]:
            if entry["id"] == record_id:
                entry["reverted"] = True
                entry["reverted_at"] = time.time()
