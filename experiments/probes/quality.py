"""Online quality: replay held-out interactions through the API and compare with the manifest.

The held-out pairs are the served version's ``holdout.json`` in the model store. They are
cached per (store, model, version) in this process, so the probe keeps working while an
experiment has made the store unreachable.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from model.artifacts import HOLDOUT_FILE
from model.store import StoreError, open_store

__all__ = ["online_quality", "quality_holds", "served_model"]

_HOLDOUT_CACHE: dict[tuple[str, str, str], list[tuple[str, str]]] = {}


def _holdout(store_url: str, model: str, version: str) -> list[tuple[str, str]]:
    key = (store_url, model, version)
    if key not in _HOLDOUT_CACHE:
        try:
            raw = open_store(store_url).read_file(model, version, HOLDOUT_FILE)
            pairs = json.loads(raw)["pairs"]
        except (StoreError, ValueError, KeyError, TypeError) as exc:
            raise ActivityFailed(
                f"cannot read {HOLDOUT_FILE} of {model} {version} from {store_url}: {exc}"
            ) from exc
        _HOLDOUT_CACHE[key] = [(str(u), str(i)) for u, i in pairs]
    return _HOLDOUT_CACHE[key]


def served_model(endpoint: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The model version the endpoint serves now, with its manifest metrics (``GET /v1/model``)."""
    url = f"{endpoint.rstrip('/')}/v1/model"
    try:
        resp = httpx.get(url, timeout=timeout_s)
        resp.raise_for_status()
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ActivityFailed(f"cannot read the served model from {url}: {exc}") from exc
    if not isinstance(data, dict) or "version" not in data:
        raise ActivityFailed(f"{url} answered without a 'version'")
    return data


def online_quality(
    endpoint: str,
    store_url: str,
    model: str,
    max_pairs: int = 200,
    k: int = 10,
    timeout_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Replay the served version's held-out interactions and measure the online hit rate.

    Asks the endpoint which version it serves, reads that version's ``holdout.json`` from
    the store, sends one ``POST /v1/recommend`` per held-out (user, item) pair and counts
    a hit when the item is in the top ``k``. Returns the online and the manifest's offline
    ``hitrate@10`` side by side; judge it with ``quality_holds``.
    """
    info = served_model(endpoint, timeout_s)
    version = str(info["version"])
    offline = (info.get("metrics") or {}).get("model", {}).get(f"hitrate@{k}")
    pairs = _holdout(store_url, model, version)[: max(1, max_pairs)]
    if not pairs:
        raise ActivityFailed(f"{model} {version} has no held-out pairs to replay")
    hits, answered, versions = 0, 0, set()
    url = f"{endpoint.rstrip('/')}/v1/recommend"
    with httpx.Client(timeout=timeout_s) as client:
        for user, item in pairs:
            try:
                resp = client.post(url, json={"user_id": user, "k": k})
            except httpx.HTTPError:
                continue
            if resp.status_code != 200:
                continue
            body = resp.json()
            answered += 1
            versions.add(body.get("model_version"))
            hits += item in body.get("items", [])
    online = hits / len(pairs)
    return {
        "version": version,
        "versions_seen": sorted(v for v in versions if v),
        "pairs": len(pairs),
        "answered": answered,
        "online_hitrate": online,
        "offline_hitrate": offline,
        "ratio": (online / offline) if offline else None,
    }


def quality_holds(value: dict[str, Any] | None = None, quality_floor: float = 0.8) -> bool:
    """Tolerance: online hit rate ≥ ``quality_floor`` × the manifest's offline hit rate."""
    if not isinstance(value, dict) or value.get("offline_hitrate") is None:
        return False
    if value.get("answered", 0) < value.get("pairs", 1):
        return False
    return value["online_hitrate"] >= quality_floor * float(value["offline_hitrate"])
