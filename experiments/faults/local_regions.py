"""Region loss in the local environment (``infra.local up --regions 2``).

``region_down`` loses a region whole, through ``python -m infra.local region-down``: every
process of it SIGKILLed and its store directory moved away. ``region_up`` (and the
rollback) brings it back on the same ports; the front door's health checks fail traffic
back by themselves. The record goes to the rollback state file before anything breaks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.deployment import DeploymentError
from experiments import state
from experiments.deployment import load_deployment
from experiments.faults.common import setting, state_file

REGION_DOWN = "local.region_down"
ROLES = ("primary", "dr")
DOWN_TIMEOUT_S = 60.0
UP_TIMEOUT_S = 300.0


def _workdir(role: str, configuration: Configuration) -> str:
    """The two-region environment's top workdir, from the deployment description."""
    if role not in ROLES:
        raise ActivityFailed(f"region role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        deployment = load_deployment(str(setting(configuration, "deployment_file")))
    except DeploymentError as exc:
        raise ActivityFailed(str(exc)) from exc
    if not deployment.get("regions") or not deployment.get("workdir"):
        raise ActivityFailed(
            "the deployment has no regions: bring it up with `python -m infra.local up --regions 2`"
        )
    return str(deployment["workdir"])


def _cli(verb: str, workdir: str, role: str, timeout_s: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "infra.local", verb, "--workdir", workdir, "--role", role]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ActivityFailed(f"infra.local {verb} took more than {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        raise ActivityFailed(f"infra.local {verb} --role {role} failed: {lines[-1]}")
    return json.loads(done.stdout)


def region_down(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Lose a whole region: every process of it SIGKILLed and its model store moved away."""
    workdir = _workdir(role, configuration)
    state.record(state_file(configuration), REGION_DOWN, workdir=workdir, role=role)
    return _cli("region-down", workdir, role, DOWN_TIMEOUT_S)


def undo_region_down(workdir: str, role: str) -> dict[str, Any]:
    """Bring the region back and wait until its replicas are ready (idempotent)."""
    return _cli("region-up", workdir, role, UP_TIMEOUT_S)


def region_up(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Bring a lost region back (idempotent); the front door fails back by itself."""
    workdir = _workdir(role, configuration)
    result = undo_region_down(workdir, role)
    path = state_file(configuration)
    for entry in state.pending(path, REGION_DOWN):
        if entry["params"]["role"] == role:
            state.mark_reverted(path, entry["id"])
    return result
