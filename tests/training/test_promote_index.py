"""The promotion gate's recall floor: an index that misses exact search's top 20 is refused."""

from __future__ import annotations

import tempfile

import pytest

from model.artifacts import publish_artifacts
from model.index import IndexParams
from model.store import open_store
from tests.factories import store_snapshot
from tests.training.scored_models import publish_scored, scored_artifacts
from training.promote import HeldOut, PromotionRefused, index_recall_problem, promote

MODEL = "recommender"
GOOD = IndexParams(m=16, ef_construction=64, ef_search=128)
WEAK = IndexParams(m=2, ef_construction=2, ef_search=1)


@pytest.fixture
def store(tmp_path):
    return open_store(f"file://{tmp_path}/store")


def held_out() -> HeldOut:
    art = scored_artifacts(1.0)
    return HeldOut(art.holdout, art.items[:50], "test split")


def publish_indexed(store, params: IndexParams, seed: int = 1):
    """A version of true quality 1.0 (it passes the quality gate) with an index by ``params``."""
    art = scored_artifacts(1.0, seed)
    metrics = {"model": {"recall@20": 0.9}, "popularity": {"recall@20": 0.05}}
    with tempfile.TemporaryDirectory() as tmp:
        return publish_artifacts(
            store, MODEL, art, tmp, metrics=metrics, popular_items=art.items[:10],
            data_fingerprint=f"scored-{seed}", index=params,
        )  # fmt: skip


def test_an_index_below_the_recall_floor_is_refused(store):
    weak = publish_indexed(store, WEAK)
    recall = weak.data["index"]["recall@20"]
    assert recall < 0.95, "the weak graph must really miss exact search's items"
    before = store_snapshot(store)
    with pytest.raises(PromotionRefused, match=r"index recall@20 .* below the floor 0\.95"):
        promote(store, MODEL, weak.version, held_out=held_out())
    assert store_snapshot(store) == before
    body = promote(
        store, MODEL, weak.version, held_out=held_out(), index_recall_floor=recall - 0.01
    )
    assert body["version"] == weak.version, "the floor is a setting"


def test_a_good_index_and_a_version_without_index_are_promoted(store):
    good = publish_indexed(store, GOOD)
    assert good.data["index"]["recall@20"] >= 0.95
    assert promote(store, MODEL, good.version, held_out=held_out())["version"] == good.version
    plain = publish_scored(store, 1.0, claim=0.9, seed=2)
    assert index_recall_problem(plain) == ""
    assert promote(store, MODEL, plain.version)["version"] == plain.version


def test_an_index_without_recorded_recall_is_refused(store):
    manifest = publish_indexed(store, GOOD)
    manifest.data["index"].pop("recall@20")
    assert "records no recall@20" in index_recall_problem(manifest)
