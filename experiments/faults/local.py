"""Faults of the local environment, through the controller's API (DESIGN.md contract 2).

Selectors are Kubernetes equality selectors over the replicas' labels
(``app=recdrill-replica,role=active,zone=local-a``). Faults that leave something broken
record it in the rollback state file first; store faults go to the store's own driver
(``file_store`` or ``s3_store``, from the configuration's ``model_store_url``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.deployment import control_token
from experiments.faults.common import setting, state_file, store_driver
from experiments.faults.local_regions import REGION_DOWN, region_down, region_up, undo_region_down
from experiments.faults.local_replication import (
    SLOWED,
    restore_replication,
    slow_replication,
    undo_slow_replication,
)
from experiments.faults.partition import HANGS, answer_to
from experiments.faults.refusal import corrupted_version, refusal
from experiments.probes.capacity import wait_until_capacity
from infra.local.client import ControlClient, ControlError

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

ZONE_DOWN = "local.zone_down"
STOPPED = "local.stopped"
REPLACED = "local.replaced"
TIMEOUT_S = 60.0
POLL_S = 0.25


@contextmanager
def _control(configuration: Configuration, secrets: Secrets) -> Iterator[ControlClient]:
    """The control client for this deployment; its errors become ``ActivityFailed``."""
    url = str(setting(configuration, "control_url"))
    client = ControlClient(url, control_token(configuration, secrets), timeout=TIMEOUT_S)
    try:
        yield client
    except ControlError as exc:
        raise ActivityFailed(str(exc)) from exc
    finally:
        client.close()


def _where(configuration: Configuration) -> dict[str, Any]:
    """What an undo needs to reach the controller later, without the token."""
    config = configuration or {}
    return {
        "control_url": config.get("control_url"),
        "deployment_file": config.get("deployment_file"),
    }


def _signal(
    selector: str, signal: str, count: int | None, configuration: Configuration, secrets: Secrets
) -> list[dict[str, Any]]:
    with _control(configuration, secrets) as control:
        affected = control.signal_replicas(selector, signal, count)
    if not affected:
        raise ActivityFailed(f"no running replica matches selector {selector!r}")
    return affected


def kill_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """SIGKILL ``count`` random replicas matching ``selector``; the controller replaces them.

    Returns the replicas hit (id, pid, zone, signal); ``wait_for_replacement`` waits
    for exactly those to run again under a new pid.
    """
    affected = _signal(selector, "KILL", count, configuration, secrets)
    victims = [{"id": a["id"], "pid": a["pid"]} for a in affected]
    state.note(state_file(configuration), REPLACED, victims=victims)
    return affected


def wait_for_replacement(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until every replica the last ``kill_replicas`` hit runs under a NEW pid and is ready.

    Fails after ``timeout_s`` (the RTO), naming the replicas not yet replaced.
    """
    notes = state.notes(state_file(configuration), REPLACED)
    if not notes:
        raise ActivityFailed("no kill recorded in the state file: nothing to wait for")
    victims = {v["id"]: v["pid"] for v in notes[0]["params"]["victims"]}
    started = time.monotonic()
    with _control(configuration, secrets) as control:
        while True:
            now = {r["id"]: r for r in control.replicas() if r["id"] in victims}
            waiting = sorted(
                rid
                for rid, old_pid in victims.items()
                if rid not in now
                or now[rid]["pid"] in (None, old_pid)
                or now[rid]["state"] != "ready"
            )
            took = time.monotonic() - started
            if not waiting:
                return {"replaced": sorted(victims), "replaced_after_s": round(took, 2)}
            if took >= timeout_s:
                raise ActivityFailed(f"not replaced within {timeout_s:.0f} s: {waiting}")
            time.sleep(POLL_S)


def freeze_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Freeze ``count`` replicas matching ``selector`` with SIGSTOP (a hung replica).

    They keep their sockets open and answer nothing. ``thaw_replicas`` resumes them.
    The intent is recorded before the signal, by selector: an experiment interrupted
    between the SIGSTOP and its answer still has a record, and the undo resumes every
    replica the selector matches (SIGCONT to a running process changes nothing).
    """
    state.record(state_file(configuration), STOPPED, selector=selector, **_where(configuration))
    return _signal(selector, "STOP", count, configuration, secrets)


def undo_freeze(selector: str, control_url: str, deployment_file: str | None) -> list[str]:
    """SIGCONT every replica ``selector`` matches (used by the thaw and by
    ``experiments rollback``)."""
    config = {"control_url": control_url, "deployment_file": deployment_file}
    with _control(config, None) as control:
        return [a["id"] for a in control.signal_replicas(selector, "CONT")]


def thaw_replicas(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Resume (SIGCONT) every replica ``freeze_replicas`` froze (idempotent)."""
    path = state_file(configuration)
    resumed = []
    for entry in state.pending(path, STOPPED):
        with _control(configuration, secrets) as control:
            resumed += [
                a["id"] for a in control.signal_replicas(entry["params"]["selector"], "CONT")
            ]
        state.mark_reverted(path, entry["id"])
    return resumed


def restart_replicas(
    selector: str,
    count: int = 0,
    wait_ready: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Restart ``count`` replicas matching ``selector`` (0: all), one at a time.

    With ``wait_ready`` each must come back ready under a new pid before the next, or
    the action fails naming it. Without, each gets SIGTERM and the controller replaces
    it while the method goes on (for a replica that may rightly refuse to start).
    """
    with _control(configuration, secrets) as control:
        chosen = control.replicas(selector)[: int(count) or None]
        if not chosen:
            raise ActivityFailed(f"no replica matches selector {selector!r}")
        if not wait_ready:
            victims = [{"id": r["id"], "pid": r["pid"]} for r in chosen]
            state.note(state_file(configuration), REPLACED, victims=victims)
        for replica in chosen:
            one = f"replica={replica['id']}"
            if not wait_ready:
                control.signal_replicas(one, "TERM")
                continue
            control.restart(one)
            (after,) = control.replicas(one)
            if after["state"] != "ready" or after["pid"] in (None, replica["pid"]):
                raise ActivityFailed(
                    f"replica {replica['id']} did not come back ready after its restart "
                    f"(state {after['state']}, pid {after['pid']})"
                )
    return [r["id"] for r in chosen]


def check_refusal(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Check that the replicas restarted last refused the corrupted model.

    Each must run again under a new pid, count ``verification_failed`` load failures,
    and not serve the corrupted version. Fails after ``timeout_s`` naming who did not.
    """
    path = state_file(configuration)
    corrupted = corrupted_version(path)
    notes = state.notes(path, REPLACED)
    if not notes:
        raise ActivityFailed("no restart recorded in the state file: nothing to check")
    victims = {v["id"]: v["pid"] for v in notes[0]["params"]["victims"]}
    shown: dict[str, Any] = {}
    started = time.monotonic()
    with _control(configuration, secrets) as control:
        while True:
            for replica in control.replicas():
                rid = replica["id"]
                if rid in victims and replica["pid"] not in (None, victims[rid]) and replica["url"]:
                    seen = refusal(replica["url"], corrupted)
                    if seen:
                        shown[rid] = seen
            missing = sorted(set(victims) - set(shown))
            if not missing:
                return {"corrupted": corrupted, "refused": shown}
            if time.monotonic() - started >= float(timeout_s):
                raise ActivityFailed(
                    f"no refusal of {corrupted} seen within {float(timeout_s):.0f} s from {missing}"
                )
            time.sleep(POLL_S)


def zone_down(
    zone: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Take a whole zone down: every replica in it stops and nothing is rescheduled there."""
    state.record(state_file(configuration), ZONE_DOWN, zone=zone, **_where(configuration))
    with _control(configuration, secrets) as control:
        return control.zone_down(zone)


def zone_hang(
    zone: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Partition a zone: its replicas freeze (freezer cgroup), so their connections hang
    until the caller's timeout and none is refused, as when a zone's subnets are cut.
    Nothing replaces them until the eviction delay (a cluster's 40 s + 300 s, scaled)."""
    state.record(state_file(configuration), ZONE_DOWN, zone=zone, **_where(configuration))
    with _control(configuration, secrets) as control:
        result = control.zone_hang(zone)
        urls = {r["id"]: r["url"] for r in control.replicas() if r["id"] in result["frozen"]}
    seen = {rid: answer_to(url) for rid, url in urls.items() if url}
    wrong = {rid: how for rid, how in seen.items() if how != HANGS}
    if wrong:
        raise ActivityFailed(f"zone {zone} is not partitioned: {wrong} (each should hang)")
    return {**result, "hanging": sorted(seen)}


def undo_zone_down(zone: str, control_url: str, deployment_file: str | None) -> dict[str, Any]:
    """Bring the zone back (used by ``zone_up`` and ``experiments rollback``)."""
    config = {"control_url": control_url, "deployment_file": deployment_file}
    with _control(config, None) as control:
        return control.zone_up(zone)


def zone_up(
    zone: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Bring a zone back up (idempotent); the controller moves its replicas home."""
    with _control(configuration, secrets) as control:
        result = control.zone_up(zone)
    path = state_file(configuration)
    for entry in state.pending(path, ZONE_DOWN):
        if entry["params"]["zone"] == zone:
            state.mark_reverted(path, entry["id"])
    return result


def wait_for_zone_return(
    zone: str, timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until every zone, ``zone`` included, has its ``replicas_per_zone`` ready actives.

    The controller moves a returning zone's replicas home, so per-zone capacity is what
    comes back here (unlike Kubernetes, see that driver).
    """
    selector = str(setting(configuration, "active_selector"))
    wanted = int(setting(configuration, "replicas_per_zone"))
    result = wait_for_capacity(selector, wanted, timeout_s, 0, configuration, secrets)
    return {**result, "zone": zone}


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Make the model store unreachable (its driver's way: a file store moves away)."""
    return store_driver(configuration).store_outage(configuration, secrets)


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Make the model store reachable again (idempotent)."""
    return store_driver(configuration).restore_store(configuration, secrets)


def corrupt_model(
    version: str = "stable",
    file: str = "model.safetensors",
    mode: str = "silent",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Corrupt one file of a model version in the store (see the store drivers)."""
    return store_driver(configuration).corrupt_model(version, file, mode, configuration, secrets)


def restore_model(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every model file a corruption changed (idempotent)."""
    return store_driver(configuration).restore_model(configuration, secrets)


def ready_capacity(
    selector: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Ready replicas per zone and per role, and which zones are up.

    Returns ``{"ready": n, "zones": {zone: n}, "roles": {role: n}, "zone_states": {...},
    "restarts": n}`` counting replicas in state ``ready``.
    """
    with _control(configuration, secrets) as control:
        listing = control.view(selector or None)
    ready = [r for r in listing.get("replicas", []) if r.get("state") == "ready"]
    zones = Counter(r["zone"] for r in ready)
    for zone in (configuration or {}).get("zones", []):
        zones.setdefault(zone, 0)
    return {
        "ready": len(ready),
        "zones": dict(zones),
        "roles": dict(Counter(r.get("role", "") for r in ready)),
        "zone_states": listing.get("zones", {}),
        "restarts": sum(int(r.get("restarts", 0)) for r in listing.get("replicas", [])),
    }


def wait_for_capacity(
    selector: str,
    min_per_zone: int,
    timeout_s: float,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until every zone has ``min_per_zone`` ready replicas matching ``selector``
    and at least ``min_total`` are ready in all.

    Returns the capacity and the seconds it took; fails when ``timeout_s`` (the RTO)
    passes first, naming what is still short.
    """
    return wait_until_capacity(
        lambda: ready_capacity(selector, configuration, secrets),
        int(min_per_zone),
        int(min_total),
        float(timeout_s),
        lambda: time.sleep(POLL_S),
    )


UNDO = {
    ZONE_DOWN: undo_zone_down,
    STOPPED: undo_freeze,
    REGION_DOWN: undo_region_down,
    SLOWED: undo_slow_replication,
}
