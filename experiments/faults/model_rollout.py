"""Bad model rollout: publish a degraded candidate, try to promote it, let the canary judge.

The candidate is the stable version's vocabulary and features with freshly initialised
(untrained) weights, and a manifest whose offline metrics say so: half the popularity
baseline's. The promotion gate (``training.promote``) must refuse it; if it does not,
the production canary (``training.canary``) measures it online and rolls ``stable``
back. Every step is recorded in the state file; ``rollback_candidate`` is idempotent.

Model rollout (and replication-lag) publish a *good* version instead: stable's verified
files re-published as a new immutable version, which the gate must let through, so the
drill can watch hot reload carry a promotion and its rollback to every replica.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.faults.common import setting, state_file
from experiments.faults.gate_process import gate_promote
from experiments.probes.rollout import ROLLOUT
from model.architecture import TwoTower
from model.artifacts import publish_artifacts, read_artifacts
from model.store import StoreError, open_store
from training.canary import CanaryError
from training.canary import canary_check as run_canary
from training.promote import PromotionRefused

__all__ = [
    "canary_check",
    "promote_through_gate",
    "publish_and_promote_copy",
    "publish_degraded_candidate",
    "publish_good_candidate",
    "roll_back_promotion",
    "rollback_candidate",
    "try_promote",
]

CANDIDATE = "rollout.candidate"


def publish_degraded_candidate(
    seed: int = 1234, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Publish an untrained copy of the stable model as a new (unpromoted) version."""
    store_url = str(setting(configuration, "model_store_url"))
    model = str(setting(configuration, "model_name", "recommender"))
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
        state_file(configuration),
        CANDIDATE,
        store_url=store_url,
        model=model,
        candidate=candidate.version,
    )
    return {"candidate": candidate.version, "stable": stable}


def _publish_copy(store_url: str, model: str, why: str) -> tuple[str, str]:
    """Publish stable's verified files and metrics again as a new immutable version.

    Returns (new version, stable version). The files come from ``fetch``, which checks
    every sha256 against stable's manifest, so the copy is exactly what stable serves.
    """
    store = open_store(store_url)
    stable = store.resolve(model, "stable")
    with tempfile.TemporaryDirectory() as tmp:
        local = store.fetch(model, stable, Path(tmp) / "cache")
        manifest = store.read_manifest(model, stable)
        copy = publish_artifacts(
            store,
            model,
            read_artifacts(local, manifest),
            Path(tmp) / "out",
            metrics=dict(manifest.data.get("metrics", {})),
            popular_items=manifest.popular_items,
            data_fingerprint=str(manifest.data.get("data_fingerprint", "")),
            parent=stable,
            extra={"chaos": why},
        )
    return copy.version, stable


def publish_and_promote_copy(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Publish the stable model again as a new version and promote it at once.

    A good version (the same weights and metrics) so the drill tests replication, not
    quality; recorded like a candidate, so the rollback moves ``stable`` back.
    """
    store_url = str(setting(configuration, "model_store_url"))
    model = str(setting(configuration, "model_name", "recommender"))
    try:
        copy, stable = _publish_copy(
            store_url, model, "a republished copy of stable (replication drill)"
        )
        state.record(
            state_file(configuration), CANDIDATE, store_url=store_url, model=model, candidate=copy
        )
        open_store(store_url).promote(model, copy, reason="chaos: replication drill")
    except (StoreError, ValueError, OSError) as exc:
        raise ActivityFailed(f"cannot publish and promote a copy of {model}: {exc}") from exc
    return {"promoted": copy, "previous": stable}


def publish_good_candidate(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Publish a good new version (stable's verified files, re-published), unpromoted.

    Recorded for the rollback (which moves ``stable`` off it if it got there) and noted
    with the stable version it is meant to replace, for the convergence probes.
    """
    store_url = str(setting(configuration, "model_store_url"))
    model = str(setting(configuration, "model_name", "recommender"))
    try:
        new, old = _publish_copy(store_url, model, "a good version for the rollout drill")
    except (StoreError, ValueError, OSError) as exc:
        raise ActivityFailed(f"cannot publish a new version of {model}: {exc}") from exc
    path = state_file(configuration)
    state.record(path, CANDIDATE, store_url=store_url, model=model, candidate=new)
    state.note(path, ROLLOUT, new=new, old=old)
    return {"new": new, "stable": old}


def promote_through_gate(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Promote the recorded version through the promotion gate; a refusal fails the action.

    The version is good, so the gate (which scores it itself) must let it through.
    """
    params = _candidate(configuration)
    try:
        alias = gate_promote(
            params["store_url"],
            params["model"],
            params["candidate"],
            "chaos: rollout drill",
            configuration,
            secrets,
        )
    except PromotionRefused as exc:
        raise ActivityFailed(f"the gate refused a good version: {exc}") from exc
    except StoreError as exc:
        raise ActivityFailed(f"store error while promoting {params['candidate']}: {exc}") from exc
    return {"stable": alias["version"], "previous": alias.get("previous")}


def roll_back_promotion(
    configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Move ``stable`` back off the recorded version with the store's own rollback.

    Idempotent (``rollback(from_version=…)``): a second call, or the experiment's
    rollback after it, writes nothing.
    """
    params = _candidate(configuration)
    store = open_store(params["store_url"])
    try:
        alias = store.rollback(params["model"], from_version=params["candidate"])
    except StoreError as exc:
        raise ActivityFailed(f"cannot roll back from {params['candidate']}: {exc}") from exc
    return {"stable": alias["version"], "rolled_back_from": params["candidate"]}


def _candidate(configuration: Configuration) -> dict[str, Any]:
    path = state_file(configuration)
    found = state.pending(path, CANDIDATE)
    if not found:
        raise ActivityFailed(f"no candidate version recorded in {path}")
    return found[0]["params"]


def try_promote(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Ask the promotion gate (``training.promote.promote``) to promote the candidate.

    Returns whether it was promoted; a refusal is the expected, good outcome. A store
    failure fails the action: it is not the gate refusing.
    """
    params = _candidate(configuration)
    store = open_store(params["store_url"])
    try:
        gate_promote(
            params["store_url"], params["model"], params["candidate"], None, configuration, secrets
        )
    except PromotionRefused as exc:
        return {"promoted": False, "refused": str(exc)}
    except StoreError as exc:
        raise ActivityFailed(f"store error while promoting {params['candidate']}: {exc}") from exc
    stable = store.resolve(params["model"], "stable")
    return {"promoted": stable == params["candidate"], "stable": stable}


def canary_check(
    wait_s: float = 15.0, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Run the production canary (``training.canary``) on the candidate if it became stable."""
    params = _candidate(configuration)
    try:
        result = run_canary(
            open_store(params["store_url"]),
            params["model"],
            params["candidate"],
            str(setting(configuration, "endpoint")),
            float(setting(configuration, "slo_quality_floor")),
            wait_s=float(wait_s),
        )
    except (CanaryError, StoreError) as exc:
        raise ActivityFailed(f"the canary could not judge {params['candidate']}: {exc}") from exc
    return result.to_dict()


def undo_candidate(store_url: str, model: str, candidate: str) -> bool:
    """Move ``stable`` off ``candidate`` if it is still there; True if moved."""
    store = open_store(store_url)
    try:
        if store.resolve(model, "stable") != candidate:
            return False
        store.rollback(model, from_version=candidate)
    except StoreError as exc:
        raise ActivityFailed(f"cannot roll {model} back from {candidate}: {exc}") from exc
    return True


def rollback_candidate(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Move ``stable`` off every recorded candidate that is still stable (idempotent)."""
    path, rolled = state_file(configuration), []
    for entry in state.pending(path, CANDIDATE):
        if undo_candidate(**entry["params"]):
            rolled.append(entry["params"]["candidate"])
        state.mark_reverted(path, entry["id"])
    return rolled


UNDO = {CANDIDATE: undo_candidate}
