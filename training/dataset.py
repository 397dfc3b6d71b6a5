"""Interactions as integer-coded numpy arrays, and the temporal leave-last-out split.

Every data source (synthetic shop, a real event log) ends up as one ``Interactions``:
1-based user and item indices (0 is padding/unknown, as in the model and artifacts),
their external string ids, and per-item category and brand indices.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

EVENT_NAMES = ("view", "cart", "purchase")


class DataError(ValueError):
    """Input data is missing, empty or malformed; the message names the file and column."""


@dataclass
class Interactions:
    """One event log: parallel arrays, one row per event, plus the id vocabularies."""

    user: np.ndarray  # int64, 1..n_users
    item: np.ndarray  # int64, 1..n_items
    timestamp: np.ndarray  # int64 seconds
    event: np.ndarray  # int8 index into EVENT_NAMES (purchase when the source has none)
    users: list[str]
    items: list[str]
    item_category: np.ndarray  # int64 [n_items + 1], row 0 = padding
    item_brand: np.ndarray  # int64 [n_items + 1]
    source: str

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_categories(self) -> int:
        return int(self.item_category.max()) + 1

    @property
    def n_brands(self) -> int:
        return int(self.item_brand.max()) + 1

    def __len__(self) -> int:
        return len(self.user)

    def fingerprint(self) -> str:
        """A digest of exactly what training saw, recorded in the manifest."""
        digest = hashlib.sha256()
        for arr in (self.user, self.item, self.timestamp, self.item_category, self.item_brand):
            digest.update(np.ascontiguousarray(arr).tobytes())
        digest.update("\x00".join(self.users).encode())
        digest.update("\x00".join(self.items).encode())
        return "sha256:" + digest.hexdigest()

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str) -> Interactions:
        """Encode a frame with user_id, item_id, timestamp and optional category/brand/event."""
        if frame.empty:
            raise DataError(f"{source}: no events left to train on")
        user_codes, users = pd.factorize(frame["user_id"].astype(str), sort=True)
        item_codes, items = pd.factorize(frame["item_id"].astype(str), sort=True)
        n_items = len(items)
        item_category = np.zeros(n_items + 1, dtype=np.int64)
        item_brand = np.zeros(n_items + 1, dtype=np.int64)
        for column, target in (("category", item_category), ("brand", item_brand)):
            if column in frame:
                # Category/brand index 0 is kept for "unknown", so codes start at 1.
                codes, _ = pd.factorize(frame[column].astype(str), sort=True)
                target[item_codes + 1] = codes + 1
        if "event" in frame:
            event = frame["event"].to_numpy(dtype=np.int8)
        else:
            event = np.full(len(frame), EVENT_NAMES.index("purchase"), dtype=np.int8)
        return cls(
            user=user_codes.astype(np.int64) + 1,
            item=item_codes.astype(np.int64) + 1,
            timestamp=frame["timestamp"].to_numpy(dtype=np.int64),
            event=event,
            users=[str(u) for u in users],
            items=[str(i) for i in items],
            item_category=item_category,
            item_brand=item_brand,
            source=source,
        )


@dataclass
class Split:
    """Temporal leave-last-out split of the first occurrence of each (user, item) pair.

    Retrieval recommends items a user has not interacted with yet, so only the first
    event of each (user, item) pair is kept. Per user (with at least two distinct
    items) the last such pair is held out; training keeps the pairs before it.
    ``history[u]`` holds the user's last ``history_len`` training items, oldest first,
    right-padded with 0: it is exactly what ships to serving as ``user_history``.
    """

    train_user: np.ndarray  # int64 [T], sorted by (user, time)
    train_item: np.ndarray  # int64 [T]
    train_user_start: np.ndarray  # int64 [T]: position of the user's first training pair
    eval_user: np.ndarray  # int64 [E]
    eval_item: np.ndarray  # int64 [E]
    history: np.ndarray  # int64 [n_users + 1, history_len]
    item_counts: np.ndarray  # int64 [n_items + 1]: training pairs per item

    @property
    def history_len(self) -> int:
        return self.history.shape[1]


def leave_last_out(data: Interactions, history_len: int) -> Split:
    """Split ``data`` as described in ``Split``; vectorised, O(E log E)."""
    order = np.lexsort((np.arange(len(data)), data.timestamp, data.user))
    user, item = data.user[order], data.item[order]
    pair = user * (data.n_items + 1) + item
    _, first_pos = np.unique(pair, return_index=True)
    first = np.zeros(len(pair), dtype=bool)
    first[first_pos] = True
    user, item = user[first], item[first]  # still sorted by (user, time)
    starts = np.searchsorted(user, np.arange(data.n_users + 2))
    count = np.diff(starts)  # count[u] for u in 0..n_users
    evaluable = np.flatnonzero(count >= 2)
    last = starts[evaluable + 1] - 1
    is_eval = np.zeros(len(user), dtype=bool)
    is_eval[last] = True
    train_user, train_item = user[~is_eval], item[~is_eval]
    train_starts = np.searchsorted(train_user, np.arange(data.n_users + 2))
    history = np.zeros((data.n_users + 1, history_len), dtype=np.int64)
    train_count = np.diff(train_starts)[: data.n_users + 1]
    for slot in range(history_len):
        # slot j takes the (n - h + j)-th training item, giving the last h items oldest first.
        take = np.minimum(train_count, history_len)
        pos = train_starts[: data.n_users + 1] + train_count - take + slot
        valid = slot < take
        history[valid, slot] = train_item[pos[valid]]
    return Split(
        train_user=train_user,
        train_item=train_item,
        train_user_start=train_starts[train_user],
        eval_user=user[last],
        eval_item=item[last],
        history=history,
        item_counts=np.bincount(train_item, minlength=data.n_items + 1).astype(np.int64),
    )


def popular_items(split: Split, data: Interactions, limit: int = 200) -> list[str]:
    """External ids of the most popular training items, most popular first."""
    counts = split.item_counts.copy()
    counts[0] = -1
    top = np.argsort(-counts, kind="stable")[:limit]
    return [data.items[i - 1] for i in top if counts[i] > 0]
