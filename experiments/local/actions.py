"""Faults for the local environment, through the controller API (DESIGN.md contract 2).

The verbs match ``experiments.kubernetes.actions`` one for one, so an experiment changes
platform by changing module, not vocabulary. Selectors are Kubernetes equality
selectors over the replicas' labels (``app=recdrill-replica,role=active,zone=local-a``).
Faults that leave something broken record it in the rollback state file first.
"""

from __future__ import annotations

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.local import control
from experiments.store.actions import corrupt_model, restore_model, restore_store, store_outage

__all__ = [
    "cont_replicas",
    "corrupt_model",
    "kill_replicas",
    "restart_replicas",
    "restore_model",
    "restore_store",
    "stop_replicas",
    "store_outage",
    "zone_down",
    "zone_up",
]

ZONE_DOWN = "local.zone_down"
STOPPED = "local.stopped"
SIGNALS = ("TERM", "KILL", "STOP", "CONT")


def _signal(
    selector: str,
    signal: str,
    count: int | None,
    percent: float | None,
    configuration: Configuration,
    secrets: Secrets,
) -> list[dict[str, Any]]:
    if signal not in SIGNALS:
        raise ActivityFailed(f"signal {signal!r} is not one of {', '.join(SIGNALS)}")
    body: dict[str, Any] = {"selector": selector, "signal": signal}
    if count is not None:
        body["count"] = count
    if percent is not None:
        body["percent"] = percent
    affected = control.call("POST", "/v1/replicas/delete", configuration, secrets, body)
    return affected.get("affected", [])


def kill_replicas(
    selector: str,
    count: int = 1,
    signal: str = "KILL",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Send ``signal`` (KILL by default) to ``count`` random replicas matching ``selector``.

    The controller replaces killed replicas, as a Deployment would; returns the replicas
    hit (id, pid, zone, signal). Fails when nothing matched.
    """
    affected = _signal(selector, signal, count, None, configuration, secrets)
    if not affected:
        raise ActivityFailed(f"no replica matches selector {selector!r}")
    return affected


def stop_replicas(
    selector: str,
    state_file: str,
    count: int = 1,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Freeze ``count`` replicas matching ``selector`` with SIGSTOP (a hung replica).

    They keep their sockets open and answer nothing. ``cont_replicas`` resumes them.
    """
    affected = _signal(selector, "STOP", count, None, configuration, secrets)
    if not affected:
        raise ActivityFailed(f"no replica matches selector {selector!r}")
    state.record(
        state_file,
        STOPPED,
        replicas=[a["id"] for a in affected],
        control_url=(configuration or {}).get("control_url"),
        deployment_file=(configuration or {}).get("deployment_file"),
    )
    return affected


def cont_replicas(
    state_file: str, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Resume (SIGCONT) every replica ``stop_replicas`` froze (idempotent)."""
    resumed = []
    for entry in state.pending(state_file, STOPPED):
        for replica in entry["params"]["replicas"]:
            resumed += [
                a["id"]
                for a in _signal(f"replica={replica}", "CONT", None, None, configuration, secrets)
            ]
        state.mark_reverted(state_file, entry["id"])
    return resumed


def zone_down(
    zone: str,
    state_file: str,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Take a whole zone down: every replica in it stops and nothing is rescheduled there."""
    state.record(
        state_file,
        ZONE_DOWN,
        zone=zone,
        control_url=(configuration or {}).get("control_url"),
        deployment_file=(configuration or {}).get("deployment_file"),
    )
    return control.call("POST", f"/v1/zones/{zone}/down", configuration, secrets)


def zone_up(
    zone: str,
    state_file: str,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Bring a zone back up (idempotent); its replicas are started again."""
    result = control.call("POST", f"/v1/zones/{zone}/up", configuration, secrets)
    for entry in state.pending(state_file, ZONE_DOWN):
        if entry["params"]["zone"] == zone:
            state.mark_reverted(state_file, entry["id"])
    return result


def restart_replicas(
    selector: str,
    rolling: bool = True,
    pause_s: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Restart the replicas matching ``selector``, one at a time when ``rolling``.

    The controller waits for each to be ready before the next; ``pause_s`` waits after.
    """
    result = control.call(
        "POST",
        "/v1/replicas/restart",
        configuration,
        secrets,
        {"selector": selector, "rolling": rolling},
        timeout_s=180.0,
    )
    if pause_s > 0:
        time.sleep(pause_s)
    return result
