"""A synthetic shop: users with latent category tastes browsing Zipf-popular items.

Everything is vectorised numpy and seeded, so the same arguments give the same
events: 1M interactions over 100k items take a few seconds.
"""

from __future__ import annotations

import numpy as np

from training.dataset import Interactions

DAY = 86_400
START = 1_700_000_000  # 2023-11-14, an arbitrary fixed epoch for reproducible timestamps


def generate_shop(
    *,
    n_interactions: int = 1_000_000,
    n_items: int = 100_000,
    n_users: int | None = None,
    n_categories: int = 200,
    n_brands: int = 2_000,
    tastes_per_user: int = 3,
    zipf_exponent: float = 1.05,
    explore: float = 0.1,
    days: int = 90,
    seed: int = 0,
) -> Interactions:
    """Sessions of view → cart → purchase events.

    Each user likes ``tastes_per_user`` categories (Dirichlet weights); a viewed item
    comes from a liked category with probability ``1 - explore`` (else from the whole
    shop), chosen by Zipf popularity within it. A view is carted with p=0.3 and a
    cart purchased with p=0.5, seconds later in the same session.
    """
    if n_interactions < 1 or n_items < 1:
        raise ValueError("n_interactions and n_items must be positive")
    rng = np.random.default_rng(seed)
    n_users = n_users or max(1, n_interactions // 20)
    n_categories = max(1, min(n_categories, n_items))

    # Items: a Zipf popularity per item, a category and a brand (brands live in categories).
    popularity = 1.0 / np.arange(1, n_items + 1) ** zipf_exponent
    popularity = popularity[rng.permutation(n_items)]
    category = rng.integers(0, n_categories, n_items)
    brand_in_category = rng.integers(0, max(1, n_brands // n_categories), n_items)
    brand = category * max(1, n_brands // n_categories) + brand_in_category

    # Items grouped by category with a cumulative popularity, to sample within a category.
    by_category = np.argsort(category, kind="stable")
    cum = np.cumsum(popularity[by_category])
    cat_start = np.searchsorted(category[by_category], np.arange(n_categories + 1))
    cum_before = np.concatenate([[0.0], cum])[cat_start]
    cat_mass = cum_before[1:] - cum_before[:-1]
    global_cum = np.cumsum(popularity)

    # Users: a few liked categories, uniformly, so tastes (not global popularity) drive views.
    liked = rng.integers(0, n_categories, size=(n_users, tastes_per_user))
    taste = rng.dirichlet(np.ones(tastes_per_user), size=n_users).cumsum(1)
    activity = rng.lognormal(0.0, 0.7, n_users)
    activity /= activity.sum()

    # Views: each user's count follows their activity, items follow their tastes.
    n_views = int(np.ceil(1.02 * n_interactions / (1 + 0.3 + 0.15)))  # 2% spare, trimmed below
    view_user = rng.choice(n_users, size=n_views, p=activity)
    slot = (rng.random(n_views)[:, None] > taste[view_user]).sum(1)
    view_cat = liked[view_user, np.minimum(slot, tastes_per_user - 1)]
    u = rng.random(n_views)
    target = cum_before[view_cat] + u * cat_mass[view_cat]
    in_taste = by_category[np.minimum(np.searchsorted(cum, target), n_items - 1)]
    anywhere = np.minimum(
        np.searchsorted(global_cum, rng.random(n_views) * global_cum[-1]), n_items - 1
    )
    view_item = np.where(rng.random(n_views) < explore, anywhere, in_taste)

    # Sessions: views of a user within a day share a session; carts and purchases follow.
    view_time = START + rng.integers(0, days * DAY, n_views)
    carted = rng.random(n_views) < 0.3
    bought = carted & (rng.random(n_views) < 0.5)
    cart_delay = rng.integers(5, 600, n_views)
    buy_delay = cart_delay + rng.integers(5, 900, n_views)
    users = np.concatenate([view_user, view_user[carted], view_user[bought]])
    items = np.concatenate([view_item, view_item[carted], view_item[bought]])
    times = np.concatenate(
        [view_time, (view_time + cart_delay)[carted], (view_time + buy_delay)[bought]]
    )
    events = np.concatenate(
        [
            np.zeros(n_views, np.int8),
            np.ones(carted.sum(), np.int8),
            np.full(bought.sum(), 2, np.int8),
        ]
    )
    excess = len(users) - n_interactions
    if excess > 0:
        # Trim to the exact size by dropping views that led nowhere, so every cart and
        # purchase keeps the view it follows.
        lone_views = np.flatnonzero(~carted)
        drop = rng.choice(lone_views, size=min(excess, len(lone_views)), replace=False)
        keep = np.ones(len(users), dtype=bool)
        keep[drop] = False
        users, items, times, events = users[keep], items[keep], times[keep], events[keep]

    item_category = np.concatenate([[0], category + 1]).astype(np.int64)
    item_brand = np.concatenate([[0], brand + 1]).astype(np.int64)
    return Interactions(
        user=users.astype(np.int64) + 1,
        item=items.astype(np.int64) + 1,
        timestamp=times.astype(np.int64),
        event=events,
        users=[f"u{i}" for i in range(n_users)],
        items=[f"sku{i:06d}" for i in range(n_items)],
        item_category=item_category,
        item_brand=item_brand,
        source=f"synthetic(n={n_interactions},items={n_items},seed={seed})",
    )
