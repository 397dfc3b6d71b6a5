"""The promotion gate measures the candidate itself; manifest claims decide nothing."""

from __future__ import annotations

import pytest

from model.store import open_store
from tests.factories import store_snapshot
from tests.training.scored_models import publish_scored, scored_artifacts
from training.promote import HeldOut, PromotionRefused, check_gate, promote

MODEL = "recommender"


@pytest.fixture
def store(tmp_path):
    return open_store(f"file://{tmp_path}/store")


def _pipeline_set() -> HeldOut:
    art = scored_artifacts(1.0)
    return HeldOut(art.holdout, art.items[:50], "test split")


def test_candidate_as_good_as_stable_is_promoted(store):
    stable = publish_scored(store, 1.0, claim=0.3, promote=True).version
    candidate = publish_scored(store, 1.0, claim=0.3, seed=1).version
    decision = check_gate(store, MODEL, candidate)
    assert decision.candidate == pytest.approx(1.0) and decision.stable == pytest.approx(1.0)
    assert decision.source == f"holdout.json of stable {stable}"
    body = promote(store, MODEL, candidate)
    assert body["version"] == candidate and body["previous"] == stable
    assert body["forced"] is False


def test_a_candidate_that_lies_in_its_manifest_is_refused(store):
    publish_scored(store, 1.0, claim=0.3, promote=True)
    liar = publish_scored(store, 0.0, claim=0.99, seed=1).version  # untrained, claims 0.99
    before = store_snapshot(store)
    with pytest.raises(PromotionRefused, match=r"manifest claims recall@20 0\.9900; measured"):
        promote(store, MODEL, liar)
    assert store_snapshot(store) == before


def test_regression_beyond_tolerance_is_refused_on_measured_figures(store):
    stable = publish_scored(store, 1.0, claim=0.1, promote=True).version
    candidate = publish_scored(store, 0.5, claim=0.9, seed=1).version
    with pytest.raises(PromotionRefused, match=rf"below stable {stable} \(1\.0000\)"):
        promote(store, MODEL, candidate, tolerance=0.02)
    assert check_gate(store, MODEL, candidate, tolerance=0.5).allowed


def test_candidate_at_popularity_level_is_refused(store):
    candidate = publish_scored(store, 0.0, claim=0.9).version
    with pytest.raises(PromotionRefused, match=r"below 1\.2x popularity"):
        promote(store, MODEL, candidate, held_out=_pipeline_set())
    assert store.read_alias(MODEL, "stable") is None


def test_first_promotion_needs_an_independent_set(store):
    candidate = publish_scored(store, 1.0, claim=0.9).version
    with pytest.raises(PromotionRefused, match="no independent held-out set"):
        promote(store, MODEL, candidate)
    assert promote(store, MODEL, candidate, held_out=_pipeline_set())["version"] == candidate


def test_force_is_recorded_with_its_reason(store):
    publish_scored(store, 1.0, claim=0.3, promote=True)
    candidate = publish_scored(store, 0.0, claim=0.05, seed=1).version
    body = promote(store, MODEL, candidate, force=True, reason="incident 42: hotfix")
    stored = store.read_alias(MODEL, "stable")
    assert stored["version"] == candidate
    assert stored["forced"] is True and stored["reason"] == "incident 42: hotfix"
    assert body == stored
    other = publish_scored(store, 0.0, claim=0.01, seed=2).version
    assert "forced" in promote(store, MODEL, other, force=True)["reason"]


def test_pipeline_set_is_recomputed_from_the_data_and_names_its_fingerprint():
    from training.promote import pipeline_held_out
    from training.synthetic import generate_shop

    data = generate_shop(n_interactions=2_000, n_items=100, seed=3)
    held_out = pipeline_held_out(data, history_len=5, limit=50)
    assert len(held_out.pairs) == 50 and len(held_out.popular) > 10
    assert set(u for u, _ in held_out.pairs) <= set(data.users)
    assert data.fingerprint() in held_out.source
    assert held_out == pipeline_held_out(data, history_len=5, limit=50)
