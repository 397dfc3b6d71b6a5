"""The canary check: after a promotion, measure the new stable online and roll it back if bad.

It is the production safety net behind the promotion gate: the gate judges offline
figures, the canary judges what users actually get. Two rules keep it honest:

- it measures the *candidate*: only answers that carry the candidate's version count,
  and when the candidate is not served (or answers too few requests) within the wait,
  nothing was measured, so it rolls back rather than keep an unmeasured version;
- its floor is not the candidate's own claim: the held-out pairs and the offline hit
  rate come from the version the candidate replaced (``previous``).

A store or endpoint failure raises ``CanaryError``; it is never reported as a verdict.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from model.artifacts import HOLDOUT_FILE
from model.store import STABLE, ModelStore, StoreError

DEFAULT_WAIT_S = 15.0
MIN_ANSWERED_RATIO = 0.5


class CanaryError(RuntimeError):
    """The canary could not run (store or endpoint failure); the message names which."""


@dataclass(frozen=True)
class CanaryResult:
    """What the canary did: ``none`` (candidate not stable), ``kept`` or ``rolled back``."""

    action: str
    candidate: str
    reason: str
    quality: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"promoted": self.action != "none", **asdict(self)}


def _served_version(http: httpx.Client, endpoint: str) -> str | None:
    try:
        resp = http.get(f"{endpoint}/v1/model")
        return str(resp.json().get("version")) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def _wait_served(http: httpx.Client, endpoint: str, candidate: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while _served_version(http, endpoint) != candidate:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _replay(
    http: httpx.Client, endpoint: str, pairs: list[tuple[str, str]], candidate: str, k: int
) -> dict[str, Any]:
    """Hit rate over the answers the candidate itself gave; other versions are not counted."""
    hits, by_candidate, versions = 0, 0, set()
    for user, item in pairs:
        try:
            resp = http.post(f"{endpoint}/v1/recommend", json={"user_id": user, "k": k})
            body = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            body = None
        if not isinstance(body, dict):
            continue
        versions.add(str(body.get("model_version")))
        if body.get("model_version") == candidate:
            by_candidate += 1
            hits += item in body.get("items", [])
    return {
        "pairs": len(pairs),
        "answered_by_candidate": by_candidate,
        "versions_seen": sorted(versions),
        "online_hitrate": hits / by_candidate if by_candidate else None,
    }


def _baseline(store: ModelStore, model: str, previous: str, k: int) -> tuple[list, float]:
    """Held-out pairs and the offline hit rate of the version the candidate replaced."""
    try:
        pairs = json.loads(store.read_file(model, previous, HOLDOUT_FILE))["pairs"]
        metrics = store.read_manifest(model, previous).data.get("metrics") or {}
    except (StoreError, ValueError, KeyError, TypeError) as exc:
        raise CanaryError(f"cannot read the baseline {model} {previous}: {exc}") from exc
    key = f"hitrate@{k}"
    offline = (metrics.get("model") or {}).get(key) or (metrics.get("popularity") or {}).get(key)
    if offline is None:
        raise CanaryError(f"{model} {previous} records no model or popularity {key}")
    return [(str(u), str(i)) for u, i in pairs], float(offline)


def canary_check(
    store: ModelStore,
    model: str,
    candidate: str,
    endpoint: str,
    quality_floor: float,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    max_pairs: int = 200,
    k: int = 10,
    timeout_s: float = 5.0,
) -> CanaryResult:
    """Keep ``candidate`` as stable only if its online hit rate ≥ floor × previous's offline."""
    try:
        alias = store.read_alias(model, STABLE) or {}
    except StoreError as exc:
        raise CanaryError(f"cannot read the stable alias of {model}: {exc}") from exc
    if alias.get("version") != candidate:
        return CanaryResult("none", candidate, "the candidate is not the stable version")
    previous = alias.get("previous")
    if not previous:
        raise CanaryError(f"{model} {candidate} has no previous version to compare or go back to")
    pairs, offline = _baseline(store, model, str(previous), k)
    endpoint = endpoint.rstrip("/")
    with httpx.Client(timeout=timeout_s) as http:
        if _wait_served(http, endpoint, candidate, wait_s):
            quality = _replay(http, endpoint, pairs[: max(1, max_pairs)], candidate, k)
        else:
            quality = {"pairs": 0, "answered_by_candidate": 0, "online_hitrate": None}
    quality = {**quality, "baseline_version": previous, "baseline_offline_hitrate": offline}
    wanted = MIN_ANSWERED_RATIO * max(1, min(len(pairs), max_pairs))
    if quality["answered_by_candidate"] < wanted:
        reason = (
            f"the candidate answered {quality['answered_by_candidate']} of the replayed "
            f"requests within {wait_s:.0f} s: it was not measured, so it does not stay"
        )
    elif quality["online_hitrate"] < quality_floor * offline:
        reason = (
            f"online hitrate@{k} {quality['online_hitrate']:.3f} is below {quality_floor} x "
            f"{previous}'s offline {offline:.3f}"
        )
    else:
        return CanaryResult("kept", candidate, "online quality above the floor", quality)
    try:
        store.rollback(model, from_version=candidate)
    except StoreError as exc:
        raise CanaryError(f"cannot roll {model} back from {candidate}: {exc}") from exc
    return CanaryResult("rolled back", candidate, reason, quality)
