"""The approximate retrieval index of a model version: built at publish, searched by replicas.

Exact top-k over every item costs a full ``[d] x [d, items]`` product per query; an index
visits a few thousand items instead. Two kinds, chosen by catalogue size:

- below ``IndexParams.ivf_from`` items (250k), an HNSW graph (faiss ``IndexHNSWFlat``, inner
  product): the best recall per visited item, but its build inserts items one at a time
  into the graph and took ~45 s per 50k items on this 2-core machine: far too slow at 1M;
- from there on, an inverted file (``IndexIVFFlat``): k-means on a sample gives ``nlist``
  centroids, every item goes to its nearest one in one matrix product, and a query scans
  the ``nprobe`` nearest lists. Its build is two BLAS passes, seconds at 1M items.

The index is one more file of the version (``items.faiss``), listed in the manifest with its
sha256 like every file, so a corrupted index is refused like corrupted weights.

It is stored in faiss's own binary format (``faiss.serialize_index``, read by ``read_index``):
a typed header and raw arrays, read by C++ code; nothing is unpickled. Reading checks
that it is the index type we wrote, that it holds one vector per catalogue item, with
the model's dimension, before it is used.

The manifest's ``index`` block records how it was built and its recall@20 against exact
search on held-out users: the promotion gate refuses an index below a recall floor.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from model.architecture import TwoTower

INDEX_FILE = "items.faiss"
INDEX_KIND = "faiss-hnsw-flat-ip"
IVF_KIND = "faiss-ivf-flat-ip"
RECALL_K = 20
_CHUNK = 16384  # items per item-tower call: bounds the temporaries
_USER_CHUNK = 2048
_SCORES_AT_ONCE = 1 << 24  # query x item scores computed at once for recall (64 MB)
log = logging.getLogger("recdrill.index")


class BadIndex(ValueError):
    """The index file is unreadable or does not match the version it ships with."""


@dataclass(frozen=True)
class IndexParams:
    """Build and search settings of both kinds; recorded in the manifest with the index."""

    m: int = 32  # HNSW graph degree (level 0 has 2m links per item)
    ef_construction: int = 80  # HNSW candidate list while building: build time vs quality
    ef_search: int = 128  # HNSW candidate list while searching: speed vs recall
    ivf_from: int = 250_000  # catalogues of this many items or more get an IVF index
    nlist: int = 0  # IVF lists (k-means centroids); 0: sqrt(items), 1,000 at 1M
    nprobe: int = 32  # IVF lists scanned per query: speed vs recall
    train_per_list: int = 32  # IVF k-means sample: this many items per list

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
    """An inner-product index over ``vectors`` (HNSW, or IVF for large catalogues); faiss
    ids are the rows."""
    params = params or IndexParams()
    data = np.ascontiguousarray(vectors.detach().cpu().numpy(), dtype=np.float32)
    if len(data) >= params.ivf_from:
        return _build_ivf(data, params)
    index = faiss.IndexHNSWFlat(data.shape[1], params.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params.ef_construction
    index.add(data)
    index.hnsw.efSearch = params.ef_search
    return index


def ivf_lists(n_items: int, params: IndexParams) -> int:
    """sqrt(n) lists: the add's cost (every item against every centroid) is n x nlist x d,
    and a query scans nprobe x n / nlist items, so both stay near n^1.5 and n^0.5."""
    return params.nlist or max(1, min(n_items, round(math.sqrt(n_items))))


def _build_ivf(data: np.ndarray, params: IndexParams) -> faiss.IndexIVFFlat:
    nlist = ivf_lists(len(data), params)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(data.shape[1]), data.shape[1], nlist)
    index.metric_type = faiss.METRIC_INNER_PRODUCT
    index.cp.niter = 10  # k-means iterations: past ~10 the lists barely move
    # the sample is ours (train_per_list per list); faiss would warn below 39 per list
    index.cp.min_points_per_centroid = 1
    index.cp.max_points_per_centroid = params.train_per_list
    sample_size = min(len(data), nlist * params.train_per_list)
    sample = data[np.random.default_rng(0).choice(len(data), sample_size, replace=False)]
    started = time.perf_counter()
    index.train(sample)
    log.info("ivf: %d lists trained on %d items in %.1f s", nlist, sample_size, _since(started))
    started = time.perf_counter()
    index.add(data)
    log.info("ivf: %d items added in %.1f s", len(data), _since(started))
    index.nprobe = params.nprobe
    return index


def _since(started: float) -> float:
    return time.perf_counter() - started


def index_kind(index: faiss.Index) -> str:
    return IVF_KIND if isinstance(index, faiss.IndexIVFFlat) else INDEX_KIND


def set_threads(threads: int) -> None:
    """faiss's OpenMP pool searches a batch's queries in parallel: bound it like torch's."""
    faiss.omp_set_num_threads(max(1, threads))


def write_index(index: faiss.Index, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(faiss.serialize_index(index).tobytes())
    return path


def read_index(path: str | Path, *, n_items: int, dim: int, params: IndexParams) -> faiss.Index:
    """Read a verified index file and check it fits the version. Raises BadIndex."""
    path = Path(path)
    try:  # straight from the file: no second in-memory copy of its bytes
        index = faiss.read_index(str(path))
    except (OSError, RuntimeError) as exc:  # faiss raises RuntimeError on bad bytes
        raise BadIndex(f"{path}: cannot read the faiss index: {exc}") from exc
    if not _is_ours(index):
        raise BadIndex(f"{path}: expected an inner-product IndexHNSWFlat or IndexIVFFlat")
    if index.ntotal != n_items or index.d != dim:
        raise BadIndex(
            f"{path}: index holds {index.ntotal} vectors of dim {index.d}, "
            f"the model has {n_items} items of dim {dim}"
        )
    if isinstance(index, faiss.IndexIVFFlat):
        index.nprobe = params.nprobe
    else:
        index.hnsw.efSearch = params.ef_search
    return index


def _is_ours(index: faiss.Index) -> bool:
    """One of the two kinds we build, inner product all the way down."""
    ip = faiss.METRIC_INNER_PRODUCT
    if isinstance(index, faiss.IndexIVFFlat):
        quantizer = faiss.downcast_index(index.quantizer)
        return index.metric_type == ip and isinstance(quantizer, faiss.IndexFlatIP)
    return isinstance(index, faiss.IndexHNSWFlat) and index.metric_type == ip


def search(index: faiss.Index, queries: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) ``[B, k]``; rows are -1 where the graph found fewer than k items."""
    data = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
    return index.search(data, k)


def exact_top_k(items: torch.Tensor, queries: torch.Tensor, k: int) -> np.ndarray:
    """Exact top-k rows, a few queries at a time: 2,000 users x 1M items of scores at once
    would be 8 GB."""
    step = max(1, _SCORES_AT_ONCE // max(1, items.shape[0]))
    k = min(k, items.shape[0])
    parts = [
        torch.topk(queries[start : start + step] @ items.T, k, dim=1).indices.cpu().numpy()
        for start in range(0, len(queries), step)
    ]
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)


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
    started = time.perf_counter()
    items = item_vectors(model, categories, brands)
    log.info("index: %d item vectors in %.1f s", len(items), _since(started))
    started = time.perf_counter()
    index = build_index(items, params)
    build_s = _since(started)
    log.info("index: %s over %d items built in %.1f s", index_kind(index), len(items), build_s)
    started = time.perf_counter()
    queries = user_vectors(model, torch.tensor(holdout_users, dtype=torch.long), history)
    recall = recall_at_k(index, items, queries, RECALL_K)
    log.info("index: recall@%d %.4f on %d users in %.1f s", RECALL_K, recall, len(queries),
             _since(started))  # fmt: skip
    path = write_index(index, Path(directory) / INDEX_FILE)
    block = {
        "file": INDEX_FILE,
        "kind": index_kind(index),
        "faiss": faiss.__version__,
        "params": asdict(replace(params, nlist=getattr(index, "nlist", params.nlist))),
        "items": int(index.ntotal),
        "dim": int(index.d),
        f"recall@{RECALL_K}": round(recall, 4),
        "recall_queries": len(holdout_users),
        "build_seconds": round(build_s, 2),
    }
    return BuiltIndex(path, block)
