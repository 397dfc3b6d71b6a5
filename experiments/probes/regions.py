"""What the DR region serves, and where the global endpoint sends traffic.

A DR replica must never serve a half-replicated version: for every version a ready DR
replica names on ``GET /v1/model``, the DR store must hold it whole (its manifest and
every file with the manifest's sha256 and size). The RPO is what the DR store lacks of
the primary's versions; steering is read from the front door's ``x-recdrill-region``
header on real recommendation requests.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments.deployment import control_token
from experiments.faults.common import setting
from infra.local.client import ControlClient, ControlError
from model.store import ModelStore, StoreError, open_store

__all__ = ["dr_serves_whole_versions", "replication_rpo", "wait_dr_converged", "wait_for_region"]

REGION_HEADER = "x-recdrill-region"
POLL_S = 0.25
TIMEOUT_S = 2.0


def _served(control_url: str, token: str) -> dict[str, str | None]:
    """Replica id -> the version it serves (None when it answers without one)."""
    try:
        with ControlClient(control_url, token, timeout=10.0) as control:
            replicas = [r for r in control.replicas() if r.get("state") == "ready"]
    except ControlError as exc:
        raise ActivityFailed(f"cannot list the DR region's replicas: {exc}") from exc
    served: dict[str, str | None] = {}
    for replica in replicas:
        try:
            answer = httpx.get(f"{replica['url']}/v1/model", timeout=TIMEOUT_S)
        except httpx.HTTPError:
            continue  # a replica restarting between listing and asking serves nothing
        if answer.status_code == 200:
            served[str(replica["id"])] = answer.json().get("version")
    return served


def whole_or_fail(store: ModelStore, model: str, served: dict[str, str | None]) -> list[str]:
    """The distinct served versions, each verified whole in ``store``; fails on a partial one."""
    versions = sorted({v for v in served.values() if v})
    for version in versions:
        try:
            store.verify(model, version)
        except StoreError as exc:
            who = sorted(rid for rid, v in served.items() if v == version)
            raise ActivityFailed(
                f"DR replica(s) {', '.join(who)} serve {model} {version}, which the DR store "
                f"does not hold whole: {exc}"
            ) from exc
    return versions


def dr_serves_whole_versions(
    watch_s: float = 0.0, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Every version a ready DR replica serves is whole in the DR store (polled ``watch_s``).

    Fails at the first partial version served, naming the replicas and the missing file.
    """
    control_url = str(setting(configuration, "dr_control_url"))
    store = open_store(str(setting(configuration, "dr_store_url")))
    model = str(setting(configuration, "model_name"))
    token = control_token(configuration, secrets)
    deadline, seen, checks = time.monotonic() + float(watch_s), set(), 0
    while True:
        served = _served(control_url, token)
        seen.update(whole_or_fail(store, model, served))
        checks += 1
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    if not served:
        raise ActivityFailed("no ready DR replica answered GET /v1/model")
    return {"served": served, "versions_seen": sorted(seen), "checks": checks}


def _created(store: ModelStore, model: str, version: str) -> float:
    stamp = str(store.read_manifest(model, version).data.get("created", ""))
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _whole(store: ModelStore, model: str, version: str) -> bool:
    try:
        store.verify(model, version)
    except StoreError:
        return False
    return True


def replication_rpo(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """What losing the primary now would lose: its versions the DR store lacks whole.

    ``rpo_versions`` counts the primary's complete versions newer than the DR store's
    newest whole one; ``rpo_s`` is how long ago the oldest of them was published (0 when
    the DR store has everything).
    """
    model = str(setting(configuration, "model_name"))
    primary = open_store(str(setting(configuration, "model_store_url")))
    dr = open_store(str(setting(configuration, "dr_store_url")))
    try:
        versions = primary.list_versions(model)
        stable = primary.resolve(model, "stable")
    except StoreError as exc:
        raise ActivityFailed(f"cannot read the primary store: {exc}") from exc
    whole = [v for v in dr.list_versions(model) if _whole(dr, model, v)]
    newest = whole[-1] if whole else None
    missing = [v for v in versions if newest is None or v > newest]
    rpo_s = time.time() - _created(primary, model, missing[0]) if missing else 0.0
    return {
        "primary_stable": stable,
        "dr_newest_whole": newest,
        "rpo_versions": len(missing),
        "rpo_s": round(max(rpo_s, 0.0), 3),
        "missing": missing,
    }


def wait_for_region(
    region: str,
    timeout_s: float,
    consecutive: int = 10,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until ``consecutive`` recommendations in a row through the global endpoint are
    answered (200) by ``region``; fails when ``timeout_s`` (the RTO) passes first."""
    endpoint = str(setting(configuration, "endpoint")).rstrip("/")
    started, streak, last = time.monotonic(), 0, "none yet"
    body = {"user_id": "region-probe", "k": 5}
    with httpx.Client(timeout=TIMEOUT_S) as client:
        while time.monotonic() - started < float(timeout_s):
            try:
                answer = client.post(f"{endpoint}/v1/recommend", json=body)
                last = f"{answer.status_code} from {answer.headers.get(REGION_HEADER, '?')}"
                ok = answer.status_code == 200 and answer.headers.get(REGION_HEADER) == region
            except httpx.HTTPError as exc:
                last, ok = f"error {type(exc).__name__}", False
            streak = streak + 1 if ok else 0
            if streak >= int(consecutive):
                return {"region": region, "after_s": round(time.monotonic() - started, 3)}
            time.sleep(0.05)
    raise ActivityFailed(
        f"traffic did not move to region {region} within {float(timeout_s):.0f} s (last: {last})"
    )


def wait_dr_converged(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Wait until every ready DR replica serves the primary's stable version, checking on
    every poll that nothing partial is served; fails after ``timeout_s``."""
    control_url = str(setting(configuration, "dr_control_url"))
    model = str(setting(configuration, "model_name"))
    dr = open_store(str(setting(configuration, "dr_store_url")))
    try:
        wanted = open_store(str(setting(configuration, "model_store_url"))).resolve(model, "stable")
    except StoreError as exc:
        raise ActivityFailed(f"cannot read the primary's stable version: {exc}") from exc
    token = control_token(configuration, secrets)
    started, served = time.monotonic(), {}
    while time.monotonic() - started < float(timeout_s):
        served = _served(control_url, token)
        whole_or_fail(dr, model, served)
        if served and all(v == wanted for v in served.values()):
            return {"version": wanted, "after_s": round(time.monotonic() - started, 3)}
        time.sleep(POLL_S)
    raise ActivityFailed(
        f"the DR region did not converge on {model} {wanted} within {float(timeout_s):.0f} s "
        f"(serving: {served})"
    )


def dr_replicas_answered(value: dict[str, Any] | None = None, min_replicas: int = 1) -> bool:
    """Tolerance: at least ``min_replicas`` DR replicas named a (verified whole) version."""
    if not isinstance(value, dict):
        return False
    return sum(1 for v in value.get("served", {}).values() if v) >= int(min_replicas)
