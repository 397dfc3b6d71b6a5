"""The files of one published model version, written by training and read by serving.

Everything binary is safetensors, so loading a version never unpickles bytes:

    model.safetensors     the TwoTower state dict
    features.safetensors  item_category [I], item_brand [I], user_history [U, N] (0 = padding)
    vocab.json            {"users": [...], "items": [...]}: external ids; index = position + 1
    holdout.json          {"pairs": [[user_id, item_id], ...]} held-out interactions for probes
    items.faiss           optional: the approximate retrieval index (see ``model/index.py``),
                          faiss's own binary format, described by the manifest's ``index`` block
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import torch
from safetensors.torch import load_file, save_file

from model.architecture import ModelConfig, TwoTower
from model.index import INDEX_FILE, IndexParams, build_version_index
from model.store import Manifest, ModelStore

MODEL_FILE = "model.safetensors"
FEATURES_FILE = "features.safetensors"
VOCAB_FILE = "vocab.json"
HOLDOUT_FILE = "holdout.json"
ARTIFACT_FILES = (MODEL_FILE, FEATURES_FILE, VOCAB_FILE, HOLDOUT_FILE)


@dataclass
class Artifacts:
    """A trained model plus the lookup tables serving needs to answer requests."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    users: list[str]
    items: list[str]
    item_category: torch.Tensor
    item_brand: torch.Tensor
    user_history: torch.Tensor
    holdout: list[tuple[str, str]] = field(default_factory=list)
    index_path: Path | None = None  # the version's verified index file, when it has one
    index_info: dict[str, Any] = field(default_factory=dict)  # the manifest's "index" block

    def build_model(self) -> TwoTower:
        model = TwoTower(self.config)
        model.load_state_dict(self.state_dict)
        return model.eval()


def write_artifacts(art: Artifacts, directory: str | Path) -> dict[str, Path]:
    """Write the version files into ``directory``; returns name → path for publishing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in art.state_dict.items()}
    save_file(
        state, directory / MODEL_FILE, metadata={"architecture": json.dumps(art.config.to_dict())}
    )
    save_file(
        {
            "item_category": art.item_category.to(torch.int64).contiguous(),
            "item_brand": art.item_brand.to(torch.int64).contiguous(),
            "user_history": art.user_history.to(torch.int32).contiguous(),
        },
        directory / FEATURES_FILE,
    )
    (directory / VOCAB_FILE).write_text(json.dumps({"users": art.users, "items": art.items}))
    (directory / HOLDOUT_FILE).write_text(json.dumps({"pairs": [list(p) for p in art.holdout]}))
    return {name: directory / name for name in ARTIFACT_FILES}


def read_artifacts(directory: str | Path, manifest: Manifest | Mapping[str, Any]) -> Artifacts:
    """Read a verified version directory. Raises ValueError naming the file on bad content."""
    directory = Path(directory)
    data = manifest.data if isinstance(manifest, Manifest) else manifest
    try:
        config = ModelConfig.from_dict(dict(data["architecture"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{directory}: manifest has no usable 'architecture' ({exc})") from exc
    try:
        state = load_file(directory / MODEL_FILE)
        feats = load_file(directory / FEATURES_FILE)
        vocab = json.loads((directory / VOCAB_FILE).read_text())
        holdout_path = directory / HOLDOUT_FILE
        holdout = json.loads(holdout_path.read_text()) if holdout_path.exists() else {"pairs": []}
    except (OSError, ValueError, safetensors.SafetensorError) as exc:
        raise ValueError(f"{directory}: cannot read model files: {exc}") from exc
    index_info = data.get("index") or {}
    index_path = None
    if index_info:
        index_path = directory / INDEX_FILE
        if not isinstance(index_info, dict) or not index_path.is_file():
            raise ValueError(f"{directory}: manifest names an index, {INDEX_FILE} is missing")
    users, items = vocab.get("users"), vocab.get("items")
    if not isinstance(users, list) or not isinstance(items, list):
        raise ValueError(f"{directory / VOCAB_FILE}: expected lists 'users' and 'items'")
    if len(items) + 1 != config.n_items or len(users) + 1 != config.n_users:
        raise ValueError(
            f"{directory / VOCAB_FILE}: vocabulary sizes disagree with the architecture"
        )
    return Artifacts(
        config=config,
        state_dict=state,
        users=[str(u) for u in users],
        items=[str(i) for i in items],
        item_category=feats["item_category"].long(),
        item_brand=feats["item_brand"].long(),
        user_history=feats["user_history"].long(),
        holdout=[(str(u), str(i)) for u, i in holdout.get("pairs", [])],
        index_path=index_path,
        index_info=dict(index_info),
    )


def framework_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
    }


def publish_artifacts(
    store: ModelStore,
    model_name: str,
    art: Artifacts,
    workdir: str | Path,
    *,
    metrics: Mapping[str, Any],
    popular_items: list[str],
    data_fingerprint: str,
    parent: str | None = None,
    extra: Mapping[str, Any] | None = None,
    index: IndexParams | None = None,
) -> Manifest:
    """Write the artifacts locally, then publish them (data first, manifest last).

    With ``index`` the approximate retrieval index is built too, its recall@20 against
    exact search measured on the held-out users, and both go into the version.
    """
    files = write_artifacts(art, workdir)
    index_block = {}
    if index is not None:
        built = build_index_for(art, workdir, index)
        files[INDEX_FILE] = built.path
        index_block = {"index": built.manifest_block}
    manifest = {
        "architecture": art.config.to_dict(),
        "metrics": dict(metrics),
        "data_fingerprint": data_fingerprint,
        "parent": parent,
        "frameworks": framework_versions(),
        "popular_items": list(popular_items),
        **index_block,
        **(dict(extra) if extra else {}),
    }
    return store.publish(model_name, files, manifest)


def build_index_for(art: Artifacts, workdir: str | Path, params: IndexParams):
    """The version's index, measured on the users of its held-out pairs."""
    user_index = {user: i + 1 for i, user in enumerate(art.users)}
    holdout_users = sorted({user_index[u] for u, _ in art.holdout if u in user_index})
    return build_version_index(
        art.build_model(),
        art.item_category,
        art.item_brand,
        art.user_history.long(),
        holdout_users,
        workdir,
        params,
    )
