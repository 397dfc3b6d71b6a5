"""The approximate retrieval index of a model version: built at publish, searched by replicas.

Exact top-k over every item costs a full ``[d] x [d, items]`` product per query; an HNSW
graph (faiss ``IndexHNSWFlat``, inner product) visits a few thousand items instead. The
index is one more file of the version (``items.faiss``), listed in the manifest with its
sha256 like every file, so a corrupted index is refused like corrupted weights.

It is stored in faiss's own binary format (``faiss.serialize_index``, read by ``read_index``):
a typed header and raw arrays, read by C++ code; nothing is unpickled. Reading checks
that it is the index type we wrote, that it holds one vector per catalogue item, with
the model's dimension, before it is used.

The manifest's ``index`` block records how it was built and its recall@20 against exact
search on held-out users: the promotion gate refuses an index below a recall floor.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from model.architecture import TwoTower

INDEX_FILE = "items.faiss"
INDEX_KIND = "faiss-hnsw-flat-ip"
RECALL_K = 20
_CHUNK = 16384  # items per item-tower call: bounds the temporaries
_USER_CHUNK = 2048


class BadIndex(ValueError):
    """The index file is unreadable or does not match the version it ships with."""


@dataclass(frozen=True)
class IndexParams:
    """HNSW build and search settings; recorded in the manifest with the index."""

    m: int = 32  # graph degree (level 0 has 2m links per item)
    ef_construction: int = 80  # candidate list while building: build time vs graph quality
    ef_search: int = 128  # candidate list while searching: speed vs recall

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexParams:
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__ if k in data})


def item_vectors(model: TwoTower, categories: torch.Tensor, brands: torch.Tensor) -> torch.Tensor:
    """Every item's L2-normalised vector, row j = vocabulary index j + 1: ``[n_items, d]``."""
    n_items = model.config.n_items - 1
    device = model.item_id.weight.device
    out = torch.empty(n_items, model.config.dim, device=device)
    with torch.inference_mode():
        for start in range(0, n_items, _CHUNK):
            stop = min(start + _CHUNK, n_items)
            idx = torch.arange(start + 1, stop + 1)
            out[start:stop] = model.item_vectors(
                idx.to(device), categories[idx].to(device), brands[idx].to(device)
            )
    return out


def user_vectors(model: TwoTower, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """User-tower vectors of ``users`` (vocabulary indices) from their stored history rows."""
    parts = []
    with torch.inference_mode():
        for start in range(0, len(users), _USER_CHUNK):
            chunk = users[start : start + _USER_CHUNK]
            parts.append(model.user_vectors(chunk, history[chunk]))
    return torch.cat(parts) if parts else torch.empty(0, model.config.dim)


def build_index(vectors: torch.Tensor, params: IndexParams | None = None) -> faiss.Index:
    """An HNSW inner-product index over ``vectors``; faiss ids are the rows."""
    params = params or IndexParams()
    data = np.ascontiguousarray(vectors.detach().cpu().numpy(), dtype=np.float32)
    index = faiss.IndexHNSWFlat(data.shape[1], params.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params.ef_construction
    index.add(data)
    index.hnsw.efSearch = params.ef_search
    return index


def set_threads(threads: int) -> None:
    """faiss's OpenMP pool searches a batch's queries in parallel: bound it like torch's."""
    faiss.omp_set_num_threads(max(1, threads))


def write_index(index: faiss.Index, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(faiss.serialize_index(index).tobytes())
    return path


def read_index(path: str | Path, *, n_items: int, dim: int, ef_search: int) -> faiss.IndexHNSW:
    """Read a verified index file and check it fits the version. Raises BadIndex."""
    path = Path(path)
    try:  # straight from the file: no second in-memory copy of its bytes
        index = faiss.read_index(str(path))
    except (OSError, RuntimeError) as exc:  # faiss raises RuntimeError on bad bytes
        raise BadIndex(f"{path}: cannot read the faiss index: {exc}") from exc
    if not isinstance(index, faiss.IndexHNSWFlat) or index.metric_type != (
        faiss.METRIC_INNER_PRODUCT
    ):
        raise BadIndex(f"{path}: expected an inner-product IndexHNSWFlat")
    if index.ntotal != n_items or index.d != dim:
        raise BadIndex(
            f"{path}: index holds {index.ntotal} vectors of dim {index.d}, "
            f"the model has {n_items} items of dim {dim}"
        )
    index.hnsw.efSearch = ef_search
    return index


def search(index: faiss.Index, queries: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) ``[B, k]``; rows are -1 where the graph found fewer than k items."""
    data = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
    return index.search(data, k)


def exact_top_k(items: torch.Tensor, queries: torch.Tensor, k: int) -> np.ndarray:
    return torch.topk(queries @ items.T, min(k, items.shape[0]), dim=1).indices.cpu().numpy()


def recall_at_k(index: faiss.Index, items: torch.Tensor, queries: torch.Tensor, k: int) -> float:
    """Mean share of exact search's top-k that the index also returns (1.0 with no queries)."""
    if len(queries) == 0 or len(items) == 0:
        return 1.0
    k = min(k, items.shape[0])
    exact = exact_top_k(items, queries, k)
    _, found = search(index, queries, k)
    hits = [len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits) / k)


@dataclass(frozen=True)
class BuiltIndex:
    path: Path
    manifest_block: dict[str, Any]


def build_version_index(
    model: TwoTower,
    categories: torch.Tensor,
    brands: torch.Tensor,
    history: torch.Tensor,
    holdout_users: list[int],
    directory: str | Path,
    params: IndexParams | None = None,
) -> BuiltIndex:
    """Build, measure (recall@20 vs exact on ``holdout_users``) and write the version's index."""
    params = params or IndexParams()
    model = model.eval()
    items = item_vectors(model, categories, brands)
    started = time.perf_counter()
    index = build_index(items, params)
    build_s = time.perf_counter() - started
    queries = user_vectors(model, torch.tensor(holdout_users, dtype=torch.long), history)
    recall = recall_at_k(index, items, queries, RECALL_K)
    path = write_index(index, Path(directory) / INDEX_FILE)
    block = {
        "file": INDEX_FILE,
        "kind": INDEX_KIND,
        "faiss": faiss.__version__,
        "params": asdict(params),
        "items": int(index.ntotal),
        "dim": int(index.d),
        f"recall@{RECALL_K}": round(recall, 4),
        "recall_queries": len(holdout_users),
        "build_seconds": round(build_s, 2),
    }
    return BuiltIndex(path, block)
