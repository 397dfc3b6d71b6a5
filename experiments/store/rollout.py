"""Bad model rollout: publish a degraded candidate, try to promote it, canary-check it.

The candidate is the stable version's vocabulary and features with freshly initialised
(untrained) weights, and a manifest whose offline metrics say so: half the popularity
baseline's. The promotion gate (``training.promote``) must refuse it; if it does not,
the canary check measures online quality on the promoted candidate and rolls the
``stable`` alias back when quality falls below the floor. Every step is recorded in
the state file; ``rollback_candidate`` is idempotent.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.probes.quality import online_quality, quality_holds, served_model
from model.architecture import TwoTower
from model.artifacts import publish_artifacts, read_artifacts
from model.store import StoreError, open_store

__all__ = [
    "canary_check",
    "publish_degraded_candidate",
    "rollback_candidate",
    "try_promote",
]

CANDIDATE = "rollout.candidate"


def publish_degraded_candidate(
    store_url: str,
    model: str,
    state_file: str,
    seed: int = 1234,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Publish an untrained copy of the stable model as a new (unpromoted) version."""
    try:
        store = open_store(store_url)
        stable = store.resolve(model, "stable")
        with tempfile.TemporaryDirectory() as tmp:
            local = store.fetch(model, stable, Path(tmp) / "cache")
            manifest = store.read_manifest(model, stable)
            art = read_artifacts(local, manifest)
            torch.manual_seed(seed)
            art.state_dict = TwoTower(art.config).state_dict()
            metrics = dict(manifest.data.get("metrics", {}))
            baseline = dict(metrics.get("popularity", {}))
            metrics["model"] = {k: float(v) * 0.5 for k, v in baseline.items()}
            candidate = publish_artifacts(
                store,
                model,
                art,
                Path(tmp) / "out",
                metrics=metrics,
                popular_items=manifest.popular_items,
                data_fingerprint=str(manifest.data.get("data_fingerprint", "")),
                parent=stable,
                extra={"chaos": "degraded candidate (untrained weights)"},
            )
    except (StoreError, ValueError, OSError) as exc:
        raise ActivityFailed(f"cannot publish a degraded candidate of {model}: {exc}") from exc
    state.record(
        state_file, CANDIDATE, store_url=store_url, model=model, candidate=candidate.version
    )
    return {"candidate": candidate.version, "stable": stable}


def _candidate(state_file: str) -> dict[str, Any]:
    found = state.pending(state_file, CANDIDATE)
    if not found:
        raise ActivityFailed(f"no degraded candidate recorded in {state_file}")
    return found[0]["params"]


def try_promote(
    state_file: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Ask the promotion gate (``training.promote.promote``) to promote the candidate.

    Returns whether it was promoted; a refusal is the expected, good outcome.
    """
    params = _candidate(state_file)
    try:
        gate = importlib.import_module("training.promote").promote
    except (ImportError, AttributeError) as exc:
        raise ActivityFailed(
            f"the promotion gate training.promote is not available: {exc}"
        ) from exc
    store = open_store(params["store_url"])
    try:
        result = gate(store, params["model"], params["candidate"])
    except (StoreError, ValueError) as exc:
        return {"promoted": False, "refused": str(exc)}
    stable = store.resolve(params["model"], "stable")
    return {"promoted": stable == params["candidate"], "result": repr(result)}


def canary_check(
    endpoint: str,
    quality_floor: float,
    state_file: str,
    wait_s: float = 15.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """If the candidate became stable, measure it online and roll it back when it is bad.

    Waits up to ``wait_s`` for the endpoint to serve the candidate (replicas poll the
    alias), replays held-out interactions, and moves ``stable`` back when online quality
    is below ``quality_floor`` × offline.
    """
    params = _candidate(state_file)
    store = open_store(params["store_url"])
    if store.resolve(params["model"], "stable") != params["candidate"]:
        return {"promoted": False, "action": "none"}
    deadline = time.monotonic() + wait_s
    while served_model(endpoint)["version"] != params["candidate"]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    quality = online_quality(endpoint, params["store_url"], params["model"])
    if quality_holds(quality, quality_floor):
        return {"promoted": True, "action": "kept", "quality": quality}
    store.rollback(params["model"], from_version=params["candidate"])
    return {"promoted": True, "action": "rolled back", "quality": quality}


def rollback_candidate(
    state_file: str, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Move ``stable`` off every recorded candidate that is still stable (idempotent)."""
    rolled = []
    for entry in state.pending(state_file, CANDIDATE):
        params = entry["params"]
        if undo_candidate(**params):
            rolled.append(params["candidate"])
        state.mark_reverted(state_file, entry["id"])
    return rolled


def undo_candidate(store_url: str, model: str, candidate: str) -> bool:
    store = open_store(store_url)
    try:
        if store.resolve(model, "stable") != candidate:
            return False
        store.rollback(model, from_version=candidate)
    except StoreError as exc:
        raise ActivityFailed(f"cannot roll {model} back from {candidate}: {exc}") from exc
    return True
