"""Ranking metrics, history exclusion and the serving path reproducing offline hitrate@10."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import torch

from model.artifacts import read_artifacts
from model.store import open_store
from training.dataset import leave_last_out
from training.evaluate import eval_users, popularity_scorer, rank_metrics
from training.pipeline import train_and_publish
from training.synthetic import generate_shop


@pytest.fixture(scope="module")
def shop():
    return generate_shop(n_interactions=8_000, n_items=500, n_categories=20, seed=5)


@pytest.fixture(scope="module")
def split(shop):
    return leave_last_out(shop, history_len=5)


def _scorer(split, n_items, target_score: float, history_score: float):
    """Scores built from the split itself: 1 for ordinary items, chosen values elsewhere."""
    target_of = dict(zip(split.eval_user.tolist(), split.eval_item.tolist(), strict=True))

    def score(users):
        scores = torch.ones(len(users), n_items + 1)
        for row, user in enumerate(users.tolist()):
            scores[row, torch.from_numpy(split.history[user])] = history_score
            scores[row, target_of[user]] = target_score
        return scores

    return score


def test_oracle_and_anti_oracle(shop, split):
    positions = eval_users(split, None)
    best = rank_metrics(_scorer(split, shop.n_items, 5.0, 1.0), split, positions, shop.n_items)
    assert best["recall@10"] == best["recall@20"] == best["hitrate@10"] == 1.0
    assert best["ndcg@10"] == pytest.approx(1.0)
    assert best["auc"] == 1.0
    worst = rank_metrics(_scorer(split, shop.n_items, -5.0, 1.0), split, positions, shop.n_items)
    assert worst["recall@20"] == 0.0 and worst["auc"] == 0.0


def test_history_items_are_excluded_from_the_ranking(shop, split):
    positions = eval_users(split, None)
    # History items score highest and the target next: only exclusion makes it rank first.
    metrics = rank_metrics(_scorer(split, shop.n_items, 5.0, 9.0), split, positions, shop.n_items)
    assert metrics["ndcg@10"] == pytest.approx(1.0)


def test_popularity_baseline_ranks_by_training_counts(split):
    scores = popularity_scorer(split)(torch.tensor([1]))[0].numpy()
    by_score = np.argsort(-scores, kind="stable")
    counts = split.item_counts[by_score]
    assert (np.diff(counts) <= 0).all()
    assert len(np.unique(scores)) == len(scores)  # strict ranks: ties cannot favour the target


def test_published_model_beats_untrained_and_serving_path_reproduces_hitrate(shop, tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    options = {"dim": 16, "hidden": 32, "history_len": 5, "batch_size": 128, "threads": 1}
    published = train_and_publish(store, "rec", shop, progress=False, epochs=3, **options)
    metrics = published.metrics
    assert set(metrics) == {"model", "popularity"}
    manifest = store.read_manifest("rec", published.manifest.version)
    assert manifest.data["metrics"] == metrics
    assert (
        manifest.popular_items[0]
        == shop.items[
            int(
                np.argmax(
                    np.bincount(leave_last_out(shop, 5).train_item, minlength=shop.n_items + 1)
                )
            )
            - 1
        ]
    )

    with tempfile.TemporaryDirectory() as cache:
        art = read_artifacts(store.fetch("rec", manifest.version, cache), manifest)
    model = art.build_model()
    assert 0 < len(art.holdout) <= 2_000
    user_index = {u: i + 1 for i, u in enumerate(art.users)}
    item_ids = np.array(art.items)
    all_items = torch.arange(len(art.items) + 1)
    with torch.no_grad():
        vectors = model.item_vectors(all_items, art.item_category, art.item_brand)
    hits = 0
    for user_id, item_id in art.holdout:  # exactly what serving does for {"user_id", "k": 10}
        u = user_index[user_id]
        history = art.user_history[u]
        with torch.no_grad():
            scores = model.user_vectors(torch.tensor([u]), history.unsqueeze(0))[0] @ vectors.T
        scores[0] = float("-inf")
        scores[history[history > 0]] = float("-inf")
        top = item_ids[scores.topk(10).indices.numpy() - 1]
        hits += item_id in top
    # Every held-out user fits in the sample, so the online hit rate is the offline one.
    assert len(art.holdout) == metrics["model"]["users"]
    assert hits / len(art.holdout) == pytest.approx(metrics["model"]["hitrate@10"])

    untrained = train_and_publish(store, "rec", shop, progress=False, epochs=0, **options)
    assert metrics["model"]["recall@20"] > untrained.metrics["model"]["recall@20"]
