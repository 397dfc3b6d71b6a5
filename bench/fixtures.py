"""Model fixtures for benchmarks and tests: the drill-size model and a tiny one.

The drill-size model is exactly what ``make train`` / ``make drill`` serve (``python -m
training train --if-no-stable`` with its defaults), so a benchmark on it measures the drill's
real per-request cost. The tiny one is for tests. Production code never imports ``tests``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from model.architecture import ModelConfig, TwoTower
from model.artifacts import VOCAB_FILE, Artifacts, publish_artifacts
from model.store import STABLE, Manifest, ModelStore, open_store


def tiny_artifacts(
    n_users: int = 40, n_items: int = 120, seed: int = 0, history_len: int = 5
) -> Artifacts:
    """A randomly initialised two-tower model with ids ``u0…`` and ``i0…``."""
    gen = torch.Generator().manual_seed(seed)
    config = ModelConfig(
        n_users=n_users + 1,
        n_items=n_items + 1,
        n_categories=6,
        n_brands=9,
        dim=16,
        hidden=32,
        history_len=history_len,
    )
    torch.manual_seed(seed)
    model = TwoTower(config)
    history = torch.randint(1, n_items + 1, (n_users + 1, history_len), generator=gen)
    history[0] = 0
    users = [f"u{i}" for i in range(n_users)]
    items = [f"i{i}" for i in range(n_items)]
    return Artifacts(
        config=config,
        state_dict=model.state_dict(),
        users=users,
        items=items,
        item_category=torch.randint(0, 6, (n_items + 1,), generator=gen),
        item_brand=torch.randint(0, 9, (n_items + 1,), generator=gen),
        user_history=history,
        holdout=[(users[j % n_users], items[(7 * j) % n_items]) for j in range(20)],
    )


def publish_tiny_model(
    store: ModelStore,
    model: str = "recommender",
    *,
    seed: int = 0,
    promote: bool = True,
    recall20: float = 0.2,
    **kwargs,
) -> Manifest:
    """Publish a tiny model version (and by default promote it to ``stable``)."""
    art = tiny_artifacts(seed=seed, **kwargs)
    metrics = {
        "model": {
            "recall@10": recall20 * 0.7,
            "recall@20": recall20,
            "ndcg@10": 0.1,
            "ndcg@20": 0.12,
            "hitrate@10": recall20 * 0.7,
            "auc": 0.8,
        },
        "popularity": {
            "recall@10": 0.05,
            "recall@20": 0.08,
            "ndcg@10": 0.03,
            "ndcg@20": 0.04,
            "hitrate@10": 0.05,
            "auc": 0.6,
        },
    }
    return publish_artifacts_now(store, model, art, metrics, f"tiny-{seed}", promote=promote)


def publish_artifacts_now(
    store: ModelStore,
    model: str,
    art: Artifacts,
    metrics: dict,
    fingerprint: str,
    *,
    promote: bool = True,
) -> Manifest:
    """Publish test artifacts with the given metrics (popular items: the first 50 items)."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = publish_artifacts(
            store,
            model,
            art,
            tmp,
            metrics=metrics,
            popular_items=art.items[:50],
            data_fingerprint=fingerprint,
        )
    if promote:
        store.promote(model, manifest.version)
    return manifest


def drill_model_store(store_dir: Path, model: str = "recommender") -> str:
    """The store URL of the drill's model in ``store_dir``, trained there first if it has no
    stable version (minutes, once): the command ``make train`` runs, with its defaults."""
    url = f"file://{store_dir.resolve()}"
    argv = [sys.executable, "-m", "training", "train", "--store", url, "--model", model]
    result = subprocess.run(
        [*argv, "--if-no-stable", "--no-progress"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"training the drill-size model failed: {result.stderr[-500:]}")
    return url


def model_size(store_url: str, model: str = "recommender") -> dict[str, Any]:
    """What a benchmark ran on: the stable version, its architecture and its size."""
    store = open_store(store_url)
    version = store.resolve(model, STABLE)
    data = store.read_manifest(model, version).data
    arch = data.get("architecture", {})
    return {
        "store": store_url,
        "version": version,
        "users": arch.get("n_users", 1) - 1,
        "items": arch.get("n_items", 1) - 1,
        "dim": arch.get("dim"),
        "hidden": arch.get("hidden"),
        "version_bytes": sum(int(f.get("size", 0)) for f in data["files"].values()),
    }


def known_users(store_url: str, model: str = "recommender", limit: int = 2000) -> list[str]:
    """Up to ``limit`` user ids the stable version knows, so load exercises real inference
    rather than the cheap cold-start path."""
    store = open_store(store_url)
    version = store.resolve(model, STABLE)
    users = json.loads(store.read_file(model, version, VOCAB_FILE))["users"]
    step = max(1, len(users) // limit)
    return list(users[::step][:limit])
