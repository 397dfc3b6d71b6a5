"""Data → train → evaluate → publish: what ``python -m training train`` does."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model.artifacts import Artifacts, publish_artifacts
from model.index import IndexParams
from model.store import STABLE, Manifest, ModelStore
from training.dataset import Interactions, popular_items
from training.evaluate import evaluate, holdout_pairs
from training.loaders import ONLINE_RETAIL, load_event_log
from training.synthetic import generate_shop
from training.train import TrainResult, train

EVALUATION_NOTE = (
    "temporal leave-last-out over first (user, item) interactions; full ranking over the "
    "catalogue excluding index 0 and the user's stored user_history row; "
    "recall@K == hitrate@K (one held-out item per user)"
)


def load_data(source: str, *, interactions: int = 200_000, items: int = 20_000, seed: int = 0):
    """``auto`` (online-retail when present, else synthetic), ``synthetic``, a preset or a path."""
    if source == "auto":
        source = "online-retail" if ONLINE_RETAIL.is_file() else "synthetic"
    if source == "synthetic":
        return generate_shop(n_interactions=interactions, n_items=items, seed=seed)
    if source == "online-retail":
        return load_event_log(ONLINE_RETAIL, "online-retail")
    return load_event_log(source)


def build_artifacts(result: TrainResult, data: Interactions, holdout_limit: int) -> Artifacts:
    return Artifacts(
        config=result.model.config,
        state_dict={k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        users=data.users,
        items=data.items,
        item_category=torch.from_numpy(data.item_category),
        item_brand=torch.from_numpy(data.item_brand),
        user_history=torch.from_numpy(result.split.history),
        holdout=holdout_pairs(data, result.split, holdout_limit),
    )


@dataclass
class Published:
    manifest: Manifest
    metrics: dict[str, dict[str, float]]


def train_and_publish(
    store: ModelStore,
    model_name: str,
    data: Interactions,
    *,
    progress: bool = True,
    max_eval_users: int | None = 10_000,
    holdout_limit: int = 2_000,
    index: IndexParams | None = IndexParams(),  # noqa: B008 (frozen, so sharing it is safe)
    **train_options: Any,
) -> Published:
    """Train, evaluate against popularity and publish one new version (not promoted).

    With ``index`` (the default) the version carries an approximate retrieval index,
    its recall@20 against exact search measured on the held-out users; ``None`` publishes
    a version that replicas serve with exact search.
    """
    with tempfile.TemporaryDirectory(prefix="recdrill-train-") as tmp:
        train_options.setdefault("out_dir", str(Path(tmp) / "checkpoints"))
        result = train(data, progress=progress, **train_options)
        metrics = evaluate(
            result.model, data, result.split, max_users=max_eval_users, progress=progress
        )
        stable = store.read_alias(model_name, STABLE)
        manifest = publish_artifacts(
            store,
            model_name,
            build_artifacts(result, data, holdout_limit),
            Path(tmp) / "artifacts",
            metrics=metrics,
            popular_items=popular_items(result.split, data),
            data_fingerprint=data.fingerprint(),
            parent=stable["version"] if stable else None,
            extra={
                "training": asdict(result.config)
                | {"final_loss": result.losses[-1] if result.losses else None},
                "data": {
                    "source": data.source,
                    "events": len(data),
                    "users": data.n_users,
                    "items": data.n_items,
                },
                "evaluation": EVALUATION_NOTE,
            },
            index=index,
        )
    return Published(manifest=manifest, metrics=metrics)
