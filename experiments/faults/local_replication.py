"""Slow cross-region replication in the local environment, through the replicator's API.

``slow_replication`` reads the replicator's lag first and records it in the rollback
state file, then sets the new one with ``PUT /v1/lag`` (the environment's control token);
``restore_replication`` (and the rollback) puts the recorded lag back, and objects
already waiting become due by it, so the DR store catches up at once.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.deployment import control_token
from experiments.faults.common import setting, state_file

SLOWED = "local.replication_slowed"
LAG_ROUTE = "/v1/lag"
STATE_ROUTE = "/v1/state"
TIMEOUT_S = 5.0


def _seconds(name: str, value: Any) -> float:
    """A lag setting as seconds >= 0; ActivityFailed names the argument otherwise."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ActivityFailed(f"{name} must be a number of seconds >= 0, got {value!r}")
    return seconds


def _call(method: str, url: str, token: str, body: dict[str, float] | None = None) -> dict:
    """One replicator request; every failure is an ActivityFailed naming the URL."""
    try:
        answer = httpx.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ActivityFailed(f"the replicator at {url} is unreachable: {exc}") from exc
    if answer.status_code != 200:
        raise ActivityFailed(
            f"the replicator at {url} answered {answer.status_code}: {answer.text[:200]}"
        )
    return answer.json()


def set_lag(replicator_url: str, token: str, lag_s: float, spread_s: float) -> dict[str, Any]:
    """Set the replicator's lag; returns what it now uses."""
    body = {"lag_s": lag_s, "spread_s": spread_s}
    return _call("PUT", f"{replicator_url.rstrip('/')}{LAG_ROUTE}", token, body)


def slow_replication(
    lag_s: float = 30.0,
    spread_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Slow replication to the DR store: each new object waits ``lag_s`` + up to ``spread_s``."""
    lag, spread = _seconds("lag_s", lag_s), _seconds("spread_s", spread_s)
    url = str(setting(configuration, "replicator_url")).rstrip("/")
    token = control_token(configuration, secrets)
    before = _call("GET", f"{url}{STATE_ROUTE}", token)
    state.record(
        state_file(configuration),
        SLOWED,
        replicator_url=url,
        deployment_file=(configuration or {}).get("deployment_file"),
        lag_s=float(before["lag_s"]),
        spread_s=float(before["spread_s"]),
    )
    now = set_lag(url, token, lag, spread)
    return {"before": {"lag_s": before["lag_s"], "spread_s": before["spread_s"]}, "now": now}


def undo_slow_replication(
    replicator_url: str, deployment_file: str | None, lag_s: float, spread_s: float
) -> dict[str, Any]:
    """Put the recorded lag back (idempotent: setting the same lag twice changes nothing)."""
    token = control_token({"deployment_file": deployment_file}, None)
    return set_lag(replicator_url, token, lag_s, spread_s)


def restore_replication(
    configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Give replication back its recorded lag, so the DR store catches up (idempotent)."""
    path, restored = state_file(configuration), []
    for entry in state.pending(path, SLOWED):
        params = entry["params"]
        token = control_token(configuration, secrets)
        restored.append(
            set_lag(params["replicator_url"], token, params["lag_s"], params["spread_s"])
        )
        state.mark_reverted(path, entry["id"])
    return restored
