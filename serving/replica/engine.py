"""Inference for one loaded model version: item/user vectors precomputed, batched top-k.

A :class:`ServingModel` is immutable once built, so a replica swaps versions by
replacing one reference, and a batch that started on the old version finishes on it.

How a request is answered (``source`` in the response):

- ``user``: a known user. The user tower runs on the user id plus the stored last-N
  history. If the request also carries ``history``, its known items are appended to
  the stored history (they are the freshest clicks) and the last N are used, so the
  vector reflects what the shopper just did; without it the precomputed vector is used.
- ``history``: an unknown user with at least one known history item: the normalised
  mean of those items' vectors.
- ``popular``: an unknown user with no usable history: the manifest's popular items,
  scored ``1 / (rank + 1)``. This is a cold-start answer, not a degraded one.

Unknown item ids in ``history``/``exclude`` are ignored. ``exclude`` items never appear.
With ``exclude_seen`` (see :class:`EngineOptions`) the items the user has already
interacted with (stored history and request history) are excluded too, matching an
offline evaluation that ranks only unseen items.

Search (``search`` on the model, see :class:`EngineOptions`): ``approximate`` asks the
version's HNSW index (``model/index.py``) for the top ``k + excluded`` items and drops
the excluded ones; a query left with fewer than ``k`` items while enough exist is
re-ranked exactly. A version published without an index is served with ``exact``
search: one ``[B, d] x [d, items]`` product and a masked top-k.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from model import index as ann
from model.architecture import TwoTower
from model.artifacts import Artifacts
from model.store import Manifest
from serving.schema import AnswerSource

Search = Literal["exact", "approximate"]
_USER_CHUNK = 2048  # the user tower holds [chunk, history_len, dim] temporaries
_NEG_INF = float("-inf")


@dataclass(frozen=True)
class EngineOptions:
    """Behaviour switches a deployment may need to align with offline evaluation."""

    exclude_seen: bool = True  # drop the user's already-seen items from the top-k
    device: str = "auto"  # "auto" = cuda when available, else cpu
    search: str = "approximate"  # the version's index when it has one; "exact" never uses it


@dataclass(frozen=True)
class Query:
    user_id: str
    k: int = 10
    history: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Ranked:
    """A query answered by ranking: where its vector comes from and what it excludes."""

    pos: int
    source: AnswerSource
    excluded: list[int]
    kind: Literal["stored", "tower", "mean"]
    slot: int


@dataclass(frozen=True)
class Answer:
    items: list[str]
    scores: list[float]
    source: AnswerSource
    model_version: str


def _model_without_init(art: Artifacts) -> TwoTower:
    """The model with the artifact tensors as its parameters: no random init, no second copy."""
    with torch.device("meta"):
        model = TwoTower(art.config)
    model.load_state_dict(art.state_dict, assign=True)
    return model.eval()


def _own_parameters(model: TwoTower) -> None:
    """Copy the kept parameters out of the artifact's tensors.

    safetensors maps the weights file, and every tensor it returns is a view of that one
    mapping: while any parameter points into it, the pages read so far stay resident,
    including the dropped item-id table's (another 256 MB at 1M items). With copies, the
    mapping goes as soon as the artifacts are dropped (measured at 1M items: peak RSS
    1,533 -> 1,437 MB, steady 1,513 -> 1,268 MB).
    """
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            module.register_parameter(
                name, torch.nn.Parameter(param.detach().clone(), requires_grad=False)
            )


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def configure_cpu_threads(threads: int | None = None) -> int:
    """Bound torch's thread pools: the event loop and the load generator need cores too.

    Default: all but one core for intra-op work (at least 1), one inter-op thread.
    """
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) - 1)
    torch.set_num_threads(threads)
    # RuntimeError: already set, or parallel work already ran in this process
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    ann.set_threads(threads)
    return threads


@dataclass
class ServingModel:
    """One verified model version, ready to answer queries."""

    name: str
    manifest: Manifest
    model: TwoTower
    item_ids: list[str]
    item_index: dict[str, int]  # external id -> row in item_vectors
    user_index: dict[str, int]  # external id -> vocabulary index (>= 1)
    item_vectors: torch.Tensor  # [n_items, d], row j is vocabulary index j + 1
    item_matrix: torch.Tensor  # exact search: item_vectors.T made contiguous; approximate: a view
    user_vectors: torch.Tensor  # [n_users + 1, d], row 0 unused
    history_rows: np.ndarray  # [n_users + 1, N] item rows of the stored history, -1 = padding
    popular: list[str]
    options: EngineOptions
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)
    index: Any = None  # the version's faiss index, when approximate search is used
    exact_fallbacks: int = 0  # approximate queries re-ranked exactly (too many exclusions)

    @property
    def search(self) -> Search:
        return "exact" if self.index is None else "approximate"

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        name: str,
        manifest: Manifest,
        art: Artifacts,
        options: EngineOptions | None = None,
        *,
        consume: bool = False,
    ) -> ServingModel:
        """Precompute every item vector and every known user's vector, then warm up.

        The engine keeps copies of the weights it needs. By default the artifacts are
        left whole (a caller may publish or build them again); a caller that owns them
        outright (the replica's loader) passes ``consume=True`` so their state dict is
        emptied at once and the weights file's mapping goes before the user vectors are
        built, which is what keeps a 1M-item replica's peak RSS down.
        """
        options = options or EngineOptions()
        device = pick_device(options.device)
        model = _model_without_init(art).to(device)
        item_vectors = ann.item_vectors(model, art.item_category, art.item_brand)
        # The item tower's id table (n_items x d) is not needed once its vectors exist:
        # dropping it saves 256 MB at 1M items.
        model.item_id.weight = torch.nn.Parameter(
            torch.empty(0, model.config.dim, device=device), requires_grad=False
        )
        _own_parameters(model)
        if consume:
            art.state_dict.clear()  # the last reference to the mapping: see _own_parameters
        index = None
        if options.search == "approximate" and art.index_path is not None:
            params = ann.IndexParams.from_dict(art.index_info.get("params") or {})
            index = ann.read_index(
                art.index_path,
                n_items=len(art.items),
                dim=model.config.dim,
                params=params,
            )
        with torch.inference_mode():
            history = art.user_history.to(device)
            user_vectors = torch.zeros(len(art.users) + 1, model.config.dim, device=device)
            for start in range(1, len(art.users) + 1, _USER_CHUNK):
                stop = min(start + _USER_CHUNK, len(art.users) + 1)
                users = torch.arange(start, stop, device=device)
                user_vectors[start:stop] = model.user_vectors(users, history[start:stop])
        served = cls(
            name=name,
            manifest=manifest,
            model=model,
            item_ids=list(art.items),
            item_index={item: j for j, item in enumerate(art.items)},
            user_index={user: i + 1 for i, user in enumerate(art.users)},
            item_vectors=item_vectors,
            # a contiguous [d, n_items] operand: the matmul runs up to 2x faster for small
            # batches; with an index it is only the rare fallback's, so no second copy
            item_matrix=item_vectors.T if index is not None else item_vectors.T.contiguous(),
            user_vectors=user_vectors,
            history_rows=art.user_history.numpy().astype(np.int64) - 1,
            popular=[str(p) for p in manifest.popular_items],
            options=options,
            device=device,
            index=index,
        )
        served.warm_up()
        return served

    def warm_up(self) -> None:
        """Run every code path once so the first real request pays no first-call costs."""
        known = next(iter(self.user_index), None)
        queries = [Query(user_id="\0warmup", k=10)]
        if self.item_ids:
            queries.append(Query(user_id="\0warmup", k=10, history=(self.item_ids[0],)))
        if known is not None:
            queries.append(Query(user_id=known, k=10, exclude=tuple(self.item_ids[:1])))
            queries.append(Query(user_id=known, k=10, history=tuple(self.item_ids[:1])))
        self.recommend_batch(queries)

    # ------------------------------------------------------------------ answering
    def recommend(self, query: Query) -> Answer:
        return self.recommend_batch([query])[0]

    def recommend_batch(self, queries: list[Query]) -> list[Answer]:
        """Answer many queries with one matmul and one top-k over every item."""
        with torch.inference_mode():
            return self._recommend_batch(queries)

    def _known_items(self, ids: tuple[str, ...]) -> list[int]:
        index = self.item_index
        return [index[i] for i in ids if i in index]

    def _seen_rows(self, uidx: int) -> list[int]:
        row = self.history_rows[uidx]
        return (row[row >= 0]).tolist()

    def _recommend_batch(self, queries: list[Query]) -> list[Answer]:
        answers: list[Answer | None] = [None] * len(queries)
        ranked: list[_Ranked] = []
        stored: list[int] = []  # user indices answered from precomputed vectors
        tower: list[tuple[int, list[int]]] = []  # (user index, stored + request history rows)
        means: list[list[int]] = []  # history rows of unknown users
        for pos, q in enumerate(queries):
            hist = self._known_items(q.history)
            excluded = self._known_items(q.exclude)
            uidx = self.user_index.get(q.user_id)
            if uidx is not None:
                seen = self._seen_rows(uidx)
                if self.options.exclude_seen:
                    excluded += seen + hist
                if hist:
                    ranked.append(_Ranked(pos, "user", excluded, "tower", len(tower)))
                    tower.append((uidx, seen + hist))
                else:
                    ranked.append(_Ranked(pos, "user", excluded, "stored", len(stored)))
                    stored.append(uidx)
            elif hist:
                if self.options.exclude_seen:
                    excluded += hist
                ranked.append(_Ranked(pos, "history", excluded, "mean", len(means)))
                means.append(hist)
            else:
                skip = set(q.exclude) | (set(q.history) if self.options.exclude_seen else set())
                answers[pos] = self._popular(q.k, skip)
        if ranked:
            vectors = self._query_vectors(ranked, stored, tower, means)
            ks = [queries[r.pos].k for r in ranked]
            for r, (items, scores) in zip(ranked, self._top_k(vectors, ranked, ks), strict=True):
                answers[r.pos] = Answer(items, scores, r.source, self.version)
        return [a for a in answers if a is not None]

    def _query_vectors(
        self,
        ranked: list[_Ranked],
        stored: list[int],
        tower: list[tuple[int, list[int]]],
        means: list[list[int]],
    ) -> torch.Tensor:
        """One row per ranked query, in ``ranked`` order."""
        dev, parts = self.device, {}
        if stored:
            parts["stored"] = self.user_vectors[torch.tensor(stored, device=dev)]
        if tower:
            n = self.model.config.history_len
            hist = torch.zeros(len(tower), n, dtype=torch.long)
            for r, (_, rows) in enumerate(tower):
                last = rows[-n:]
                hist[r, : len(last)] = torch.tensor(last) + 1
            users = torch.tensor([u for u, _ in tower], device=dev)
            parts["tower"] = self.model.user_vectors(users, hist.to(dev))
        if means:
            flat = torch.tensor([c for rows in means for c in rows], device=dev)
            offsets = torch.tensor([0, *itertools.accumulate(len(r) for r in means)][:-1])
            bags = F.embedding_bag(flat, self.item_vectors, offsets.to(dev), mode="mean")
            parts["mean"] = F.normalize(bags, dim=-1)
        if len(parts) == 1:
            return next(iter(parts.values()))
        base, offset = {}, 0
        for kind, tensor in parts.items():
            base[kind] = offset
            offset += tensor.shape[0]
        order = torch.tensor([base[r.kind] + r.slot for r in ranked], device=dev)
        return torch.cat(list(parts.values()))[order]

    def _top_k(
        self, vectors: torch.Tensor, ranked: list[_Ranked], ks: list[int]
    ) -> list[tuple[list[str], list[float]]]:
        if self.index is None:
            return self._exact_top_k(vectors, ranked, ks)
        return self._approximate_top_k(vectors, ranked, ks)

    def _approximate_top_k(
        self, vectors: torch.Tensor, ranked: list[_Ranked], ks: list[int]
    ) -> list[tuple[list[str], list[float]]]:
        """The index's top ``k + excluded``, excluded items dropped; short rows go exact."""
        fetch = min(self.n_items, max(k + len(r.excluded) for k, r in zip(ks, ranked, strict=True)))
        all_scores, all_rows = ann.search(self.index, vectors, fetch)
        ids, out, redo = self.item_ids, [], []
        for pos, (k, plan) in enumerate(zip(ks, ranked, strict=True)):
            banned = set(plan.excluded)
            keep = [
                (int(j), float(s))
                for j, s in zip(all_rows[pos], all_scores[pos], strict=True)
                if j >= 0 and j not in banned
            ][:k]
            if len(keep) < k and len(keep) < self.n_items - len(banned):
                redo.append(pos)  # the graph gave too few: rank this one exactly
            out.append(([ids[j] for j, _ in keep], [s for _, s in keep]))
        if redo:
            self.exact_fallbacks += len(redo)
            exact = self._exact_top_k(
                vectors[torch.tensor(redo, device=vectors.device)],
                [ranked[p] for p in redo],
                [ks[p] for p in redo],
            )
            for pos, answer in zip(redo, exact, strict=True):
                out[pos] = answer
        return out

    def _exact_top_k(
        self, vectors: torch.Tensor, ranked: list[_Ranked], ks: list[int]
    ) -> list[tuple[list[str], list[float]]]:
        scores = vectors @ self.item_matrix  # [B, n_items]
        rows = [r for r, plan in enumerate(ranked) for _ in plan.excluded]
        if rows:
            cols = [c for plan in ranked for c in plan.excluded]
            dev = self.device
            scores[torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)] = float("-inf")
        top_scores, top_idx = torch.topk(scores, min(max(ks), self.n_items), dim=1)
        all_scores, all_idx = top_scores.cpu().tolist(), top_idx.cpu().tolist()
        ids, out = self.item_ids, []
        for k, row_scores, row_idx in zip(ks, all_scores, all_idx, strict=True):
            row_scores, row_idx = row_scores[:k], row_idx[:k]
            if row_scores and row_scores[-1] == _NEG_INF:  # fewer than k unexcluded items
                keep = [j for j, s in enumerate(row_scores) if s != _NEG_INF]
                row_scores, row_idx = [row_scores[j] for j in keep], [row_idx[j] for j in keep]
            out.append(([ids[j] for j in row_idx], row_scores))
        return out

    def _popular(self, k: int, skip: set[str]) -> Answer:
        items = [p for p in self.popular if p not in skip][:k]
        return Answer(items, [1.0 / (r + 1) for r in range(len(items))], "popular", self.version)
