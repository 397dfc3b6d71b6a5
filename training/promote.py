"""The promotion gate: a candidate must not regress against stable or fail to beat popularity.

The gate never believes a manifest's metrics: a candidate writes its own. It loads the
candidate's weights and scores them (``training.evaluate.pair_hitrates``) on a held-out
set the candidate does not control: the set recorded with the stable version, or the
training pipeline's own split (identified by its data fingerprint). On that same set it
scores the stable version and popularity, and refuses a candidate whose measured
Recall@20 is more than ``tolerance`` below stable's (absolute) or below
``popularity_factor`` × popularity's. ``force=True`` skips the verdict and is recorded
in the alias object.

Each check is a function returning reasons, so other checks (an ANN index recall floor,
say) can sit beside ``quality_reasons`` in ``check_gate``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.artifacts import Artifacts, read_artifacts
from model.store import STABLE, Manifest, ModelStore, StoreError
from training.dataset import Interactions, leave_last_out, popular_items
from training.evaluate import holdout_pairs, pair_hitrates

GATE_METRIC = "recall@20"
DEFAULT_TOLERANCE = 0.02
DEFAULT_POPULARITY_FACTOR = 1.2
CLAIM_SLACK = 0.05  # a manifest claim this far above the measured figure is reported
DEFAULT_INDEX_RECALL_FLOOR = 0.95  # approximate search must find this share of exact's top 20


class PromotionRefused(StoreError):
    """The gate refused the candidate; the message says which check failed and by how much."""


@dataclass(frozen=True)
class HeldOut:
    """Held-out (user id, item id) pairs and the popularity ranking, from outside the candidate."""

    pairs: list[tuple[str, str]]
    popular: list[str]
    source: str


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reasons: list[str]
    candidate: float
    stable: float | None
    popularity: float
    source: str = ""
    notes: list[str] = field(default_factory=list)


def pipeline_held_out(data: Interactions, history_len: int, limit: int = 2_000) -> HeldOut:
    """The training pipeline's own split of ``data``, recomputed, not read from the candidate."""
    split = leave_last_out(data, history_len)
    return HeldOut(
        holdout_pairs(data, split, limit),
        popular_items(split, data),
        f"the pipeline's split of data {data.fingerprint()}",
    )


def _artifacts(store: ModelStore, model: str, version: str, tmp: str) -> Artifacts:
    """A verified copy of ``version``'s files, read without unpickling."""
    try:
        path = store.fetch(model, version, Path(tmp))
        return read_artifacts(path, store.read_manifest(model, version))
    except ValueError as exc:
        raise PromotionRefused(f"version {version} cannot be loaded for scoring: {exc}") from exc


def _claimed(store: ModelStore, model: str, version: str) -> float | None:
    metrics = store.read_manifest(model, version).data.get("metrics") or {}
    try:
        return float(metrics["model"][GATE_METRIC])
    except (KeyError, TypeError, ValueError):
        return None


def quality_reasons(
    candidate: float,
    popularity: float,
    stable: tuple[str, float] | None,
    *,
    tolerance: float,
    popularity_factor: float,
) -> list[str]:
    """Why the measured quality is not good enough; [] when it is."""
    reasons = []
    if candidate < popularity_factor * popularity:
        reasons.append(
            f"measured {GATE_METRIC} {candidate:.4f} is below {popularity_factor}x popularity "
            f"({popularity_factor * popularity:.4f})"
        )
    if stable is not None and candidate < stable[1] - tolerance:
        reasons.append(
            f"measured {GATE_METRIC} {candidate:.4f} is more than {tolerance} below stable "
            f"{stable[0]} ({stable[1]:.4f})"
        )
    return reasons


def check_gate(
    store: ModelStore,
    model: str,
    version: str,
    *,
    held_out: HeldOut | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    popularity_factor: float = DEFAULT_POPULARITY_FACTOR,
) -> GateDecision:
    """Score the candidate, stable and popularity on one independent held-out set."""
    current = store.read_alias(model, STABLE)
    stable_version = current["version"] if current and current["version"] != version else None
    with tempfile.TemporaryDirectory(prefix="recdrill-gate-") as tmp:
        candidate_art = _artifacts(store, model, version, tmp)
        stable_score: tuple[str, float] | None = None
        stable_art = _artifacts(store, model, stable_version, tmp) if stable_version else None
        if held_out is None and stable_art is not None:
            popular = store.read_manifest(model, str(stable_version)).popular_items
            held_out = HeldOut(
                stable_art.holdout, popular, f"holdout.json of stable {stable_version}"
            )
        if held_out is None or not held_out.pairs:
            raise PromotionRefused(
                f"no independent held-out set to score {model}/{version} on: no stable "
                "version with a holdout.json and no pipeline split given"
            )
        measured = pair_hitrates(candidate_art, held_out.pairs, held_out.popular)
        if stable_art is not None:
            stable_measured = pair_hitrates(stable_art, held_out.pairs, held_out.popular)
            stable_score = (str(stable_version), stable_measured["model"][GATE_METRIC])
    value = measured["model"][GATE_METRIC]
    popularity = measured["popularity"][GATE_METRIC]
    reasons = quality_reasons(
        value, popularity, stable_score, tolerance=tolerance, popularity_factor=popularity_factor
    )
    notes = []
    claim = _claimed(store, model, version)
    if claim is not None and claim > value + CLAIM_SLACK:
        notes.append(f"the manifest claims {GATE_METRIC} {claim:.4f}; measured {value:.4f}")
    return GateDecision(
        not reasons,
        reasons,
        value,
        stable_score[1] if stable_score else None,
        popularity,
        source=held_out.source,
        notes=notes,
    )


def index_recall_problem(manifest: Manifest, floor: float = DEFAULT_INDEX_RECALL_FLOOR) -> str:
    """Why the version's retrieval index is not good enough to serve, or "" when it is.

    A version without an index is served with exact search, so it passes; an index
    whose recorded recall@20 against exact search is missing or below ``floor`` fails.
    """
    index = manifest.data.get("index")
    if not index:
        return ""
    try:
        recall = float(index["recall@20"])
    except (KeyError, TypeError, ValueError):
        return "its index records no recall@20 against exact search"
    if recall < floor:
        return f"index recall@20 {recall:.4f} against exact search is below the floor {floor}"
    return ""


def promote(
    store: ModelStore,
    model: str,
    version: str,
    *,
    force: bool = False,
    reason: str | None = None,
    held_out: HeldOut | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    popularity_factor: float = DEFAULT_POPULARITY_FACTOR,
    index_recall_floor: float = DEFAULT_INDEX_RECALL_FLOOR,
) -> dict[str, Any]:
    """Move ``stable`` to ``version`` if the gate allows it (or ``force``); else raise."""
    try:
        decision = check_gate(
            store,
            model,
            version,
            held_out=held_out,
            tolerance=tolerance,
            popularity_factor=popularity_factor,
        )
        reasons = decision.reasons + decision.notes if decision.reasons else []
    except PromotionRefused as exc:
        if not force:
            raise
        reasons = [str(exc)]
    index_problem = index_recall_problem(store.read_manifest(model, version), index_recall_floor)
    if index_problem:
        reasons.append(index_problem)
    if reasons and not force:
        raise PromotionRefused(
            f"promotion of {model}/{version} refused (scored on {decision.source}): "
            + "; ".join(reasons)
        )
    if force and not reason:
        reason = "forced: " + ("; ".join(reasons) or "gate passed")
    return store.promote(model, version, force=force, reason=reason)
