"""Offline evaluation on the temporal leave-last-out split, next to a popularity baseline.

The ranking rule is the one serving applies to a known user, so an online probe
can reproduce ``hitrate@10``: score every catalogue item (index 0 excluded) by the
dot product of the normalised user vector (user id + the stored ``user_history``
row) and item vectors, drop the items in that history row, take the top k.
The held-out item is by construction new to the user, so it is never dropped.

With one held-out item per user, Recall@K equals HitRate@K; both are reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
from rich.progress import Progress

from model.architecture import TwoTower
from model.artifacts import Artifacts
from training.dataset import Interactions, Split

METRIC_KEYS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "hitrate@10", "auc", "coverage")
AUC_NEGATIVES = 100

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # user indices [B] -> scores [B, n_items+1]


def eval_users(split: Split, max_users: int | None, seed: int = 0) -> np.ndarray:
    """Positions into split.eval_user to evaluate: all, or a seeded sample of max_users."""
    n = len(split.eval_user)
    if max_users is None or n <= max_users:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_users, replace=False))


def item_vectors(model: TwoTower, data: Interactions) -> torch.Tensor:
    """Normalised vectors of every item index 0..n_items (row 0 is padding)."""
    items = torch.arange(data.n_items + 1)
    with torch.no_grad():
        return model.item_vectors(
            items, torch.from_numpy(data.item_category), torch.from_numpy(data.item_brand)
        )


def model_scorer(model: TwoTower, data: Interactions, split: Split) -> ScoreFn:
    model.eval()
    vectors = item_vectors(model, data)
    history = torch.from_numpy(split.history)

    def score(users: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.user_vectors(users, history[users]) @ vectors.T

    return score


def popularity_scorer(split: Split) -> ScoreFn:
    """Training popularity with ties broken by index, so ranks are strict."""
    order = np.argsort(-split.item_counts, kind="stable")
    score = np.empty(len(order), dtype=np.float32)
    score[order] = np.arange(len(order), 0, -1, dtype=np.float32)
    table = torch.from_numpy(score)
    return lambda users: table.unsqueeze(0).expand(len(users), -1).clone()


def rank_metrics(
    score_fn: ScoreFn,
    split: Split,
    positions: np.ndarray,
    n_items: int,
    *,
    chunk: int = 256,
    seed: int = 0,
    progress: bool = False,
    label: str = "evaluating",
) -> dict[str, float]:
    """Full-ranking metrics over the held-out pairs at ``positions``."""
    gen = torch.Generator().manual_seed(seed)
    users_all = torch.from_numpy(split.eval_user[positions])
    targets_all = torch.from_numpy(split.eval_item[positions])
    history = torch.from_numpy(split.history)
    sums = dict.fromkeys(("hit10", "hit20", "ndcg10", "ndcg20", "auc"), 0.0)
    covered = torch.zeros(n_items + 1, dtype=torch.bool)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(positions))
        for lo in range(0, len(positions), chunk):
            users, targets = users_all[lo : lo + chunk], targets_all[lo : lo + chunk]
            scores = score_fn(users).float()
            scores[:, 0] = float("-inf")
            scores.scatter_(1, history[users], float("-inf"))
            target_score = scores.gather(1, targets.unsqueeze(1))
            rank = (scores > target_score).sum(1).double()
            for k in (10, 20):
                hit = rank < k
                sums[f"hit{k}"] += float(hit.sum())
                sums[f"ndcg{k}"] += float((hit / torch.log2(rank + 2)).sum())
            covered[scores.topk(10, dim=1).indices.flatten()] = True
            negatives = torch.randint(1, n_items + 1, (len(users), AUC_NEGATIVES), generator=gen)
            neg_score = scores.gather(1, negatives)
            valid = torch.isfinite(neg_score) & (negatives != targets.unsqueeze(1))
            wins = (target_score > neg_score).double() + 0.5 * (target_score == neg_score).double()
            per_user = (wins * valid).sum(1) / valid.sum(1).clamp(min=1)
            sums["auc"] += float(per_user.sum())
            bar.advance(task, len(users))
    n = max(1, len(positions))
    covered[0] = False
    return {
        "recall@10": sums["hit10"] / n,
        "recall@20": sums["hit20"] / n,
        "ndcg@10": sums["ndcg10"] / n,
        "ndcg@20": sums["ndcg20"] / n,
        "hitrate@10": sums["hit10"] / n,
        "auc": sums["auc"] / n,
        "coverage": float(covered.sum()) / max(1, n_items),
        "users": float(len(positions)),
    }


def evaluate(
    model: TwoTower,
    data: Interactions,
    split: Split,
    *,
    max_users: int | None = 10_000,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """``{"model": {...}, "popularity": {...}}`` over the same held-out users."""
    positions = eval_users(split, max_users, seed)
    kwargs = {"seed": seed, "progress": progress}
    return {
        "model": rank_metrics(
            model_scorer(model, data, split), split, positions, data.n_items, **kwargs
        ),
        "popularity": rank_metrics(
            popularity_scorer(split), split, positions, data.n_items, label="popularity", **kwargs
        ),
    }


def _ranks(scores: torch.Tensor, history: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rank of each target among the items the serving rule could return (0 = top)."""
    scores = scores.clone()
    scores[:, 0] = float("-inf")
    scores.scatter_(1, history, float("-inf"))
    target = scores.gather(1, targets.unsqueeze(1))
    ranks = (scores > target).sum(1)
    return torch.where(torch.isfinite(target.squeeze(1)), ranks, torch.full_like(ranks, 1 << 30))


def pair_hitrates(
    art: Artifacts, pairs: list[tuple[str, str]], popular: list[str]
) -> dict[str, dict[str, float]]:
    """hitrate@10 and recall@20 of a version's own weights, and of popularity, on ``pairs``.

    Measured, never read from a manifest: the promotion gate and the online quality
    floor use this so a version cannot vouch for itself. The ranking is the serving rule
    for a known user (history row excluded); a user or item the version does not know
    is a miss. Popularity ranks ``popular`` (from a source the candidate does not
    control) with the same exclusions.
    """
    user_index = {u: i + 1 for i, u in enumerate(art.users)}
    item_index = {it: i + 1 for i, it in enumerate(art.items)}
    known = [
        (user_index[u], item_index[i]) for u, i in pairs if u in user_index and i in item_index
    ]
    n = max(1, len(pairs))
    empty = {"hitrate@10": 0.0, "recall@20": 0.0}
    if not known:
        return {"model": dict(empty), "popularity": dict(empty), "pairs": {"n": float(len(pairs))}}
    users = torch.tensor([u for u, _ in known])
    targets = torch.tensor([i for _, i in known])
    history = art.user_history[users].long()
    model = art.build_model()
    with torch.no_grad():
        items = torch.arange(art.config.n_items)
        vectors = model.item_vectors(items, art.item_category.long(), art.item_brand.long())
        scores = model.user_vectors(users, history) @ vectors.T
    pop_scores = torch.full((art.config.n_items,), float("-inf"))
    ranked = [item_index[i] for i in popular if i in item_index]
    for position, index in enumerate(dict.fromkeys(ranked)):
        pop_scores[index] = float(len(ranked) - position)
    pop = pop_scores.unsqueeze(0).expand(len(known), -1)
    out: dict[str, dict[str, float]] = {"pairs": {"n": float(len(pairs))}}
    for name, table in (("model", scores), ("popularity", pop)):
        ranks = _ranks(table, history, targets)
        out[name] = {
            "hitrate@10": float((ranks < 10).sum()) / n,
            "recall@20": float((ranks < 20).sum()) / n,
        }
    return out


def holdout_pairs(
    data: Interactions, split: Split, limit: int = 2_000, seed: int = 0
) -> list[tuple[str, str]]:
    """A seeded sample of held-out (user id, item id) pairs for the online quality probe."""
    positions = eval_users(split, limit, seed + 1)
    return [
        (data.users[int(split.eval_user[p]) - 1], data.items[int(split.eval_item[p]) - 1])
        for p in positions
    ]


def format_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """A small plain-text table: one row per metric, model vs popularity and the lift."""
    lines = [f"{'metric':<12}{'model':>10}{'popularity':>12}{'lift':>8}"]
    for key in METRIC_KEYS:
        m, p = metrics["model"].get(key), metrics["popularity"].get(key)
        if m is None or p is None:
            continue
        lift = f"{m / p:.2f}x" if p > 0 and math.isfinite(m / p) else "-"
        lines.append(f"{key:<12}{m:>10.4f}{p:>12.4f}{lift:>8}")
    return "\n".join(lines)
