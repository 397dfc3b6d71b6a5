"""Online quality: replay held-out interactions through the API and compare with a floor
the served version does not set.

The reference is the ``stable`` version this process first sees (in a drill, the
steady state before the fault): its own held-out pairs, and its hit rate measured
offline from its weights (``training.evaluate.pair_hitrates``), never read from a
manifest. Popularity is measured on the same pairs. The floor is ``quality_floor`` ×
stable's measured hit rate (popularity's when stable hits nothing), so a served
candidate that is honestly bad (and says so in its manifest) still fails. The
reference is cached per (store, model) in this process, so the probe keeps working
while an experiment has made the store unreachable.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from model.artifacts import read_artifacts
from model.store import STABLE, StoreError, open_store
from training.evaluate import pair_hitrates

__all__ = ["online_quality", "quality_holds", "served_model"]


@dataclass(frozen=True)
class Reference:
    """The stable version's held-out pairs and hit rates measured from its weights."""

    version: str
    pairs: list[tuple[str, str]]
    hitrate: float
    popularity: float

    @property
    def baseline(self) -> float:
        """What the served version must hold against: stable's measured figure, else popularity."""
        return self.hitrate if self.hitrate > 0 else self.popularity


_REFERENCES: dict[tuple[str, str], Reference] = {}


def _measure(store_url: str, model: str) -> Reference:
    store = open_store(store_url)
    version = store.resolve(model, STABLE)
    manifest = store.read_manifest(model, version)
    with tempfile.TemporaryDirectory(prefix="recdrill-quality-") as tmp:
        art = read_artifacts(store.fetch(model, version, Path(tmp)), manifest)
    if not art.holdout:
        raise ValueError(f"stable {version} has no held-out pairs")
    measured = pair_hitrates(art, art.holdout, manifest.popular_items)
    return Reference(
        version,
        art.holdout,
        measured["model"]["hitrate@10"],
        measured["popularity"]["hitrate@10"],
    )


def reference(store_url: str, model: str) -> Reference:
    """The cached reference for (store, model), measured on first use."""
    key = (store_url, model)
    if key not in _REFERENCES:
        try:
            _REFERENCES[key] = _measure(store_url, model)
        except (StoreError, ValueError, KeyError, TypeError, OSError) as exc:
            raise ActivityFailed(
                f"cannot measure the stable version of {model} in {store_url}: {exc}"
            ) from exc
    return _REFERENCES[key]


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
    """Replay the reference's held-out interactions and measure the online hit rate.

    Sends one ``POST /v1/recommend`` per held-out (user, item) pair of the reference
    (stable) version and counts a hit when the item is in the top ``k``. Returns the
    online hit rate next to the baseline it must hold against (stable's measured hit
    rate, else popularity's); judge it with ``quality_holds``. The served
    version's own manifest claim is shown, never used.
    """
    info = served_model(endpoint, timeout_s)
    version = str(info["version"])
    claimed = (info.get("metrics") or {}).get("model", {}).get(f"hitrate@{k}")
    ref = reference(store_url, model)
    pairs = ref.pairs[: max(1, max_pairs)]
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
    baseline = ref.baseline
    return {
        "version": version,
        "versions_seen": sorted(v for v in versions if v),
        "pairs": len(pairs),
        "answered": answered,
        "online_hitrate": online,
        "reference_version": ref.version,
        "reference_hitrate": ref.hitrate,
        "popularity_hitrate": ref.popularity,
        "baseline_hitrate": baseline,
        "claimed_hitrate": claimed,
        "ratio": (online / baseline) if baseline else None,
    }


def quality_holds(value: dict[str, Any] | None = None, quality_floor: float = 0.8) -> bool:
    """Tolerance: every pair answered, and online hit rate ≥ ``quality_floor`` × baseline."""
    if not isinstance(value, dict) or value.get("baseline_hitrate") is None:
        return False
    if value.get("answered", 0) < value.get("pairs", 1):
        return False
    return value["online_hitrate"] >= quality_floor * float(value["baseline_hitrate"])
