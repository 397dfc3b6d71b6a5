"""Did a promotion (or its rollback) reach every replica? Asked of each replica over HTTP.

Hot reload is what makes a rollback of a bad model reach users: every ready replica
(active and standby, as the controller lists them) must name the wanted version on
``GET /v1/model`` within a bound. The wanted version is read from the note
``model_rollout.publish_good_candidate`` leaves in the state file: the new version
after the promotion, the stable version it replaced after the rollback.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.deployment import control_token
from experiments.faults.common import setting, state_file
from infra.local.client import ControlClient, ControlError

__all__ = ["every_replica_serves", "served_versions"]

ROLLOUT = "rollout.good-version"
TARGETS = ("new", "old")  # the version published and promoted, or the stable it replaced
POLL_S = 0.25
TIMEOUT_S = 2.0


def served_versions(control_url: str, token: str) -> dict[str, str | None]:
    """Ready replica id -> the version its ``GET /v1/model`` names (None: no answer)."""
    try:
        with ControlClient(control_url, token, timeout=10.0) as control:
            ready = [r for r in control.replicas() if r.get("state") == "ready"]
    except ControlError as exc:
        raise ActivityFailed(f"cannot list the replicas: {exc}") from exc
    served: dict[str, str | None] = {}
    for replica in ready:
        try:
            answer = httpx.get(f"{replica['url']}/v1/model", timeout=TIMEOUT_S)
            version = answer.json().get("version") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            version = None  # ready but not answering is not serving the wanted version
        served[str(replica["id"])] = version
    return served


def wanted_version(path: str, target: str) -> str:
    """The version ``target`` names in the last rollout noted in the state file."""
    if target not in TARGETS:
        raise ActivityFailed(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    notes = state.notes(path, ROLLOUT)
    if not notes:
        raise ActivityFailed(f"no rollout noted in {path}: publish a version first")
    return str(notes[0]["params"][target])


def every_replica_serves(
    target: str,
    within_s: float,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until every ready replica serves the ``target`` version; fail after ``within_s``.

    Fails naming each replica still on another version (or not answering) once the bound
    passes, and when no replica is ready at all (nothing served is not converged).
    """
    wanted = wanted_version(state_file(configuration), target)
    control_url = str(setting(configuration, "control_url"))
    token = control_token(configuration, secrets)
    started, served = time.monotonic(), {}
    while True:
        served = served_versions(control_url, token)
        if served and all(v == wanted for v in served.values()):
            elapsed = time.monotonic() - started
            return {"version": wanted, "replicas": len(served), "after_s": round(elapsed, 3)}
        if time.monotonic() - started >= float(within_s):
            break
        time.sleep(POLL_S)
    behind = {rid: v for rid, v in sorted(served.items()) if v != wanted}
    listed = ", ".join(f"{rid} ({v or 'no answer'})" for rid, v in behind.items())
    raise ActivityFailed(
        f"not every ready replica serves {wanted} within {float(within_s):.1f} s: "
        + (listed or "no replica is ready")
    )
