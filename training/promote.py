"""The promotion gate: a candidate must not regress against stable or fail to beat popularity.

``promote`` refuses a candidate whose Recall@20 is more than ``tolerance`` below the
stable version's (absolute), or below ``popularity_factor`` × its own popularity
baseline. ``force=True`` skips the gate and is recorded in the alias object.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from model.store import STABLE, Manifest, ModelStore, StoreError

GATE_METRIC = "recall@20"
DEFAULT_TOLERANCE = 0.02
DEFAULT_POPULARITY_FACTOR = 1.2
DEFAULT_INDEX_RECALL_FLOOR = 0.95  # approximate search must find this share of exact's top 20


class PromotionRefused(StoreError):
    """The gate refused the candidate; the message says which check failed and by how much."""


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reasons: list[str]
    candidate: float
    stable: float | None
    popularity: float


def _metric(manifest: Manifest, group: str) -> float:
    metrics = manifest.data.get("metrics") or {}
    try:
        return float(metrics[group][GATE_METRIC])
    except (KeyError, TypeError, ValueError) as exc:
        raise PromotionRefused(
            f"version {manifest.version} has no metrics.{group}.{GATE_METRIC} in its manifest"
        ) from exc


def check_gate(
    store: ModelStore,
    model: str,
    version: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    popularity_factor: float = DEFAULT_POPULARITY_FACTOR,
) -> GateDecision:
    """Compare the candidate's manifest metrics with stable's and with popularity."""
    candidate = store.read_manifest(model, version)
    value = _metric(candidate, "model")
    popularity = _metric(candidate, "popularity")
    reasons = []
    if value < popularity_factor * popularity:
        reasons.append(
            f"{GATE_METRIC} {value:.4f} is below {popularity_factor}x popularity "
            f"({popularity_factor * popularity:.4f})"
        )
    stable_value = None
    current = store.read_alias(model, STABLE)
    if current and current["version"] != version:
        stable_value = _metric(store.read_manifest(model, current["version"]), "model")
        if value < stable_value - tolerance:
            reasons.append(
                f"{GATE_METRIC} {value:.4f} is more than {tolerance} below stable "
                f"{current['version']} ({stable_value:.4f})"
            )
    return GateDecision(not reasons, reasons, value, stable_value, popularity)


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
    tolerance: float = DEFAULT_TOLERANCE,
    popularity_factor: float = DEFAULT_POPULARITY_FACTOR,
    index_recall_floor: float = DEFAULT_INDEX_RECALL_FLOOR,
) -> dict[str, Any]:
    """Move ``stable`` to ``version`` if the gate allows it (or ``force``); else raise."""
    decision = check_gate(
        store, model, version, tolerance=tolerance, popularity_factor=popularity_factor
    )
    index_problem = index_recall_problem(store.read_manifest(model, version), index_recall_floor)
    if index_problem:
        decision = GateDecision(False, [*decision.reasons, index_problem], *astuple(decision)[2:])
    if not decision.allowed and not force:
        raise PromotionRefused(
            f"promotion of {model}/{version} refused: " + "; ".join(decision.reasons)
        )
    if force and not reason:
        reason = "forced: " + ("; ".join(decision.reasons) or "gate passed")
    return store.promote(model, version, force=force, reason=reason)
