from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.store import Manifest
from serving.replica.engine import EngineOptions, Query, ServingModel
from tests.factories import tiny_artifacts


def build(exclude_seen: bool = True, n_items: int = 120) -> ServingModel:
    art = tiny_artifacts(n_items=n_items)
    manifest = Manifest({"version": "v-test", "popular_items": art.items[:30]})
    return ServingModel.build(
        "recommender", manifest, art, EngineOptions(exclude_seen=exclude_seen)
    )


@pytest.fixture(scope="module")
def engine() -> ServingModel:
    return build()


def expected_ranking(engine: ServingModel, vector: torch.Tensor, skip: set[str]) -> list[str]:
    scores = (engine.item_vectors @ vector).tolist()
    order = sorted(range(len(scores)), key=lambda j: -scores[j])
    return [engine.item_ids[j] for j in order if engine.item_ids[j] not in skip]


def seen_items(engine: ServingModel, user: str) -> list[str]:
    row = engine.history_rows[engine.user_index[user]]
    return [engine.item_ids[j] for j in row if j >= 0]


def test_known_user_is_ranked_by_the_user_tower_without_seen_items(engine):
    answer = engine.recommend(Query("u3", k=10))
    uidx = engine.user_index["u3"]
    hist = torch.tensor(engine.history_rows[uidx] + 1).unsqueeze(0)
    with torch.no_grad():
        vector = engine.model.user_vectors(torch.tensor([uidx]), hist)[0]
    seen = set(seen_items(engine, "u3"))
    assert seen
    assert answer.source == "user"
    assert answer.items == expected_ranking(engine, vector, seen)[:10]
    assert answer.scores == sorted(answer.scores, reverse=True)
    assert answer.model_version == "v-test"


def test_exclude_seen_off_keeps_history_items_rankable():
    engine = build(exclude_seen=False)
    seen = seen_items(engine, "u3")
    everything = engine.recommend(Query("u3", k=500)).items
    assert set(seen) <= set(everything)
    assert len(everything) == engine.n_items


def test_known_user_with_request_history_uses_the_freshest_items(engine):
    plain = engine.recommend(Query("u3", k=10))
    fresh = engine.recommend(Query("u3", k=10, history=("i7", "i8", "no-such-item")))
    assert fresh.source == "user"
    assert fresh.items != plain.items
    assert not {"i7", "i8"} & set(fresh.items)


def test_unknown_user_with_history_gets_the_mean_of_its_item_vectors(engine):
    answer = engine.recommend(Query("stranger", k=5, history=("i1", "i2", "ghost")))
    rows = [engine.item_index["i1"], engine.item_index["i2"]]
    vector = F.normalize(engine.item_vectors[rows].mean(0), dim=0)
    assert answer.source == "history"
    assert answer.items == expected_ranking(engine, vector, {"i1", "i2"})[:5]


def test_unknown_user_without_usable_history_gets_popular_items(engine):
    answer = engine.recommend(Query("stranger", k=4, history=("ghost",), exclude=("i1",)))
    assert answer.source == "popular"
    assert answer.items == ["i0", "i2", "i3", "i4"]
    assert answer.scores == [1.0, 0.5, pytest.approx(1 / 3), 0.25]


def test_exclude_removes_items_and_unknown_ids_are_ignored(engine):
    top = engine.recommend(Query("u5", k=3)).items
    answer = engine.recommend(Query("u5", k=3, exclude=(top[0], "ghost")))
    assert top[0] not in answer.items
    assert answer.items[:2] == top[1:]


def test_k_larger_than_the_catalogue_returns_every_unexcluded_item_once(engine):
    answer = engine.recommend(Query("u1", k=500, exclude=("i0", "i1")))
    seen = set(seen_items(engine, "u1"))
    assert len(answer.items) == len(set(answer.items)) == engine.n_items - len(seen | {"i0", "i1"})
    assert all(s != float("-inf") for s in answer.scores)


def test_a_batch_answers_exactly_as_single_queries_do(engine):
    queries = [
        Query("u1", k=5),
        Query("stranger", k=3),
        Query("u2", k=7, history=("i9",), exclude=("i3",)),
        Query("other", k=6, history=("i4", "i5")),
        Query("u1", k=2, exclude=("i10",)),
    ]
    batch = engine.recommend_batch(queries)
    single = [engine.recommend(q) for q in queries]
    assert [a.items for a in batch] == [a.items for a in single]
    assert [a.source for a in batch] == ["user", "popular", "user", "history", "user"]
    for b, s in zip(batch, single, strict=True):
        assert b.scores == pytest.approx(s.scores, abs=1e-5)


def test_build_copies_the_weights_it_keeps_and_leaves_the_artifacts_whole():
    art = tiny_artifacts(n_items=120)
    before = dict(art.state_dict)
    kept = art.state_dict["history_item.weight"]
    engine = ServingModel.build("recommender", Manifest({"version": "v", "popular_items": []}), art)
    assert art.state_dict.keys() == before.keys(), "a caller may still publish these artifacts"
    assert all(torch.equal(art.state_dict[k], v) for k, v in before.items())
    own = engine.model.history_item.weight
    assert own.data_ptr() != kept.data_ptr() and torch.equal(own, kept)
    assert engine.model.item_id.weight.numel() == 0


def test_a_loader_that_owns_the_artifacts_lets_the_mapping_go_during_build():
    art = tiny_artifacts(n_items=120)
    ServingModel.build(
        "recommender", Manifest({"version": "v", "popular_items": []}), art, consume=True
    )
    assert art.state_dict == {}
