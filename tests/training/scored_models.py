"""Tiny model versions whose real quality is known, to test checks that measure quality.

``scored_artifacts(quality)`` sets the weights so the user tower returns the user's id
embedding and the item tower the item's id embedding (GELU(x) - GELU(-x) = x lets a
two-layer MLP be the identity), then gives the first ``quality`` share of the users the
embedding of their held-out item: those pairs hit at rank 0, the others are random.
"""

from __future__ import annotations

import torch

from bench.fixtures import publish_artifacts_now, tiny_artifacts
from model.artifacts import Artifacts
from model.store import Manifest, ModelStore

N_USERS, N_ITEMS = 40, 120


def target(j: int) -> int:
    """Index (0-based) of user j's held-out item."""
    return (7 * j + 3) % N_ITEMS


def scored_artifacts(quality: float, seed: int = 0) -> Artifacts:
    art = tiny_artifacts(n_users=N_USERS, n_items=N_ITEMS, seed=seed)
    state = {k: v.clone() for k, v in art.state_dict.items()}
    d, hidden = art.config.dim, art.config.hidden
    eye = torch.eye(d)
    first = torch.zeros(hidden, 2 * d)
    first[:d, :d], first[d : 2 * d, :d] = eye, -eye
    second = torch.zeros(d, hidden)
    second[:, :d], second[:, d : 2 * d] = eye, -eye
    state["user_mlp.0.weight"], state["user_mlp.0.bias"] = first, torch.zeros(hidden)
    state["user_mlp.2.weight"], state["user_mlp.2.bias"] = second, torch.zeros(d)
    for key in ("item_proj.weight", "item_proj.bias", "category.weight", "brand.weight"):
        state[key] = torch.zeros_like(state[key])
    history = art.user_history.clone()
    for j in range(int(N_USERS * quality)):
        state["user_id.weight"][j + 1] = state["item_id.weight"][target(j) + 1]
    for j in range(N_USERS):
        row = history[j + 1]
        row[row == target(j) + 1] = (target(j) + 2) % N_ITEMS + 1
    art.state_dict, art.user_history = state, history
    art.holdout = [(art.users[j], art.items[target(j)]) for j in range(N_USERS)]
    return art


def publish_scored(
    store: ModelStore,
    quality: float,
    *,
    claim: float,
    seed: int = 0,
    promote: bool = False,
    model: str = "recommender",
) -> Manifest:
    """Publish a version whose true hit rate is about ``quality`` and whose manifest
    claims recall@20 and hitrate@10 of ``claim`` (popularity claimed at 0.05)."""
    metrics = {
        "model": {"recall@20": claim, "hitrate@10": claim},
        "popularity": {"recall@20": 0.05, "hitrate@10": 0.05},
    }
    art = scored_artifacts(quality, seed)
    return publish_artifacts_now(store, model, art, metrics, f"scored-{seed}", promote=promote)
