"""Approximate search in the engine: used when the version has an index, exact otherwise."""

from __future__ import annotations

import dataclasses

import pytest

from model import index as ann
from model.artifacts import Artifacts, build_index_for
from model.store import Manifest
from serving.replica.engine import EngineOptions, Query, ServingModel
from tests.factories import tiny_artifacts

N_ITEMS = 400


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Artifacts:
    art = tiny_artifacts(n_items=N_ITEMS)
    built = build_index_for(art, tmp_path_factory.mktemp("index"), ann.IndexParams())
    art.index_path, art.index_info = built.path, built.manifest_block
    return art


def build(art: Artifacts, search: str = "approximate") -> ServingModel:
    manifest = Manifest({"version": "v-test", "popular_items": art.items[:30]})
    fresh = dataclasses.replace(art, state_dict=dict(art.state_dict))  # build consumes it
    return ServingModel.build("recommender", manifest, fresh, EngineOptions(search=search))


@pytest.fixture(scope="module")
def approximate(indexed) -> ServingModel:
    return build(indexed)


@pytest.fixture(scope="module")
def exact(indexed) -> ServingModel:
    return build(indexed, "exact")


def test_a_version_without_index_is_served_exactly():
    art = tiny_artifacts(n_items=N_ITEMS)
    assert build(art).search == "exact", "no index: exact search"


def test_flag_and_index_pick_the_search(approximate, exact):
    assert approximate.search == "approximate" and approximate.index is not None
    assert exact.search == "exact" and exact.index is None


def test_approximate_answers_match_exact_and_respect_exclusions(approximate, exact, monkeypatch):
    calls = []
    real_search = ann.search
    monkeypatch.setattr(ann, "search", lambda *a: calls.append(1) or real_search(*a))
    queries = [Query(f"u{i}", k=10, exclude=(f"i{i}",)) for i in range(40)]
    queries.append(Query("guest", k=10, history=("i1", "i2", "i3")))
    fast, slow = approximate.recommend_batch(queries), exact.recommend_batch(queries)
    assert calls, "the approximate engine must ask the index"
    overlap = [len(set(a.items) & set(b.items)) / 10 for a, b in zip(fast, slow, strict=True)]
    assert sum(overlap) / len(overlap) >= 0.95
    for q, answer in zip(queries, fast, strict=True):
        assert len(answer.items) == 10 and not set(answer.items) & set(q.exclude)
        assert answer.scores == sorted(answer.scores, reverse=True)
    seen = {approximate.item_ids[j] for j in approximate.history_rows[approximate.user_index["u0"]]}
    assert not seen & set(fast[0].items), "exclude_seen holds with approximate search"


def test_too_few_results_after_exclusions_fall_back_to_exact(approximate, exact):
    excluded = tuple(f"i{j}" for j in range(0, N_ITEMS - 5))
    query = Query("u1", k=5, exclude=excluded)
    before = approximate.exact_fallbacks
    answer = approximate.recommend(query)
    assert approximate.exact_fallbacks == before + 1
    assert answer.items == exact.recommend(query).items
    assert len(answer.items) == 5 and not set(answer.items) & set(excluded)
