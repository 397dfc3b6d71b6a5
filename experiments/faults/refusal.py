"""Did a restarted replica refuse a corrupted model? Read it from the replica itself.

A refusal shows twice: the replica's ``recdrill_replica_model_load_failures_total``
counter with ``reason="verification_failed"`` went above zero (a fresh process starts
at zero, so any count is this start's), and ``GET /v1/model`` does not name the
corrupted version (it serves the previous version, or is not ready at all).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from experiments import state

CORRUPTED = "store.corrupted"
_FAILURES = re.compile(
    r'^recdrill_replica_model_load_failures_total\{[^}]*reason="verification_failed"[^}]*\}'
    r"\s+([0-9.eE+-]+)\s*$",
    re.MULTILINE,
)


def corrupted_version(path: str) -> str:
    """The version the last ``corrupt_model`` hit, from its note in the state file."""
    notes = state.notes(path, CORRUPTED)
    if not notes:
        raise ActivityFailed("no corruption recorded in the state file: nothing to check")
    return str(notes[0]["params"]["version"])


def verification_failures(metrics_text: str) -> float:
    """The replica's verification_failed load failures (0 when the series is absent)."""
    return sum(float(m) for m in _FAILURES.findall(metrics_text))


def refusal(base_url: str, corrupted: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """What the replica at ``base_url`` shows: None while it shows no refusal yet.

    Raises when it serves the corrupted version: that is the failure this guards.
    """
    base = base_url.rstrip("/")
    try:
        failures = verification_failures(httpx.get(f"{base}/metrics", timeout=timeout_s).text)
        model = httpx.get(f"{base}/v1/model", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    serving = model.json().get("version") if model.status_code == 200 else None
    if serving == corrupted:
        raise ActivityFailed(f"the replica at {base} serves the corrupted version {corrupted}")
    if failures < 1:
        return None
    return {"verification_failures": failures, "serving": serving}
