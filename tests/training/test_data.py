"""Synthetic shop and the leave-last-out split."""

from __future__ import annotations

import numpy as np
import pytest

from training.dataset import EVENT_NAMES, leave_last_out, popular_items
from training.synthetic import generate_shop


@pytest.fixture(scope="module")
def shop():
    return generate_shop(n_interactions=30_000, n_items=3_000, n_categories=30, seed=7)


def test_synthetic_shop_is_deterministic_for_a_seed(shop):
    again = generate_shop(n_interactions=30_000, n_items=3_000, n_categories=30, seed=7)
    other = generate_shop(n_interactions=30_000, n_items=3_000, n_categories=30, seed=8)
    assert again.fingerprint() == shop.fingerprint()
    assert other.fingerprint() != shop.fingerprint()


def test_synthetic_shop_shape(shop):
    assert len(shop) == 30_000
    assert shop.n_items == 3_000
    assert shop.user.min() >= 1 and shop.user.max() <= shop.n_users
    assert shop.item.min() >= 1 and shop.item.max() <= shop.n_items
    assert shop.item_category[0] == 0 and shop.item_category[1:].min() >= 1
    assert shop.item_brand[1:].min() >= 1
    assert set(np.unique(shop.event)) == set(range(len(EVENT_NAMES)))


def test_item_popularity_is_heavy_tailed(shop):
    counts = np.sort(np.bincount(shop.item, minlength=shop.n_items + 1)[1:])[::-1]
    top_share = counts[: shop.n_items // 100].sum() / counts.sum()
    assert top_share > 0.15  # the top 1% of items get far more than 1% of events


def test_users_concentrate_on_few_categories(shop):
    categories = shop.item_category[shop.item]
    shares = []
    for user in range(1, 200):
        mine = categories[shop.user == user]
        if len(mine) >= 10:
            shares.append(np.bincount(mine).max() / len(mine))
    # With 30 categories a taste-free user's top category would hold ~1/30 of events.
    assert np.mean(shares) > 0.3


def test_carts_and_purchases_follow_views(shop):
    for kind in (1, 2):
        rows = np.flatnonzero(shop.event == kind)[:200]
        for row in rows:
            same = (shop.user == shop.user[row]) & (shop.item == shop.item[row])
            views = same & (shop.event == 0)
            assert views.any() and shop.timestamp[views].min() < shop.timestamp[row]


def test_leave_last_out_holds_out_a_new_item_after_training(shop):
    split = leave_last_out(shop, history_len=5)
    assert len(split.eval_user) == len(np.unique(split.eval_user)) > 0
    for user, item in zip(split.eval_user[:300], split.eval_item[:300], strict=True):
        trained = split.train_item[split.train_user == user]
        assert item not in trained  # new to the user: never excluded as history
        mine = (shop.user == user) & (shop.item == item)
        first_seen = shop.timestamp[mine].min()
        seen_before = shop.item[(shop.user == user) & (shop.timestamp <= first_seen)]
        assert set(trained) <= set(seen_before)
        expected = list(trained[-5:])
        assert list(split.history[user][: len(expected)]) == expected
        assert not split.history[user][len(expected) :].any()


def test_training_pairs_are_unique_and_counted(shop):
    split = leave_last_out(shop, history_len=5)
    pairs = split.train_user * (shop.n_items + 1) + split.train_item
    assert len(np.unique(pairs)) == len(pairs)
    assert split.item_counts.sum() == len(split.train_item)
    top = popular_items(split, shop, limit=10)
    assert top[0] == shop.items[int(np.argmax(split.item_counts)) - 1]
    assert len(top) == 10
