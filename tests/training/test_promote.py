"""The promotion gate: regressions and popularity-level candidates refused; force is recorded."""

from __future__ import annotations

import pytest

from model.store import open_store
from tests.factories import publish_tiny_model, store_snapshot
from training.promote import PromotionRefused, check_gate, promote

MODEL = "recommender"


@pytest.fixture
def store(tmp_path):
    return open_store(f"file://{tmp_path}/store")


def test_candidate_better_than_popularity_and_stable_is_promoted(store):
    stable = publish_tiny_model(store, recall20=0.30).version
    candidate = publish_tiny_model(store, recall20=0.31, promote=False).version
    body = promote(store, MODEL, candidate)
    assert body["version"] == candidate and body["previous"] == stable
    assert body["forced"] is False


def test_regression_beyond_tolerance_is_refused_and_nothing_changes(store):
    stable = publish_tiny_model(store, recall20=0.30).version
    candidate = publish_tiny_model(store, recall20=0.25, promote=False).version
    before = store_snapshot(store)
    with pytest.raises(PromotionRefused, match=rf"below stable {stable}"):
        promote(store, MODEL, candidate, tolerance=0.02)
    assert store_snapshot(store) == before
    assert check_gate(store, MODEL, candidate, tolerance=0.06).allowed


def test_candidate_near_popularity_is_refused(store):
    # popularity recall@20 is 0.08 in the tiny manifest, so 1.2x is 0.096
    candidate = publish_tiny_model(store, recall20=0.09, promote=False).version
    with pytest.raises(PromotionRefused, match=r"below 1\.2x popularity"):
        promote(store, MODEL, candidate)
    assert store.read_alias(MODEL, "stable") is None


def test_force_is_recorded_with_its_reason(store):
    publish_tiny_model(store, recall20=0.30)
    candidate = publish_tiny_model(store, recall20=0.05, promote=False).version
    body = promote(store, MODEL, candidate, force=True, reason="incident 42: hotfix")
    stored = store.read_alias(MODEL, "stable")
    assert stored["version"] == candidate
    assert stored["forced"] is True and stored["reason"] == "incident 42: hotfix"
    assert body == stored
    other = publish_tiny_model(store, recall20=0.01, promote=False).version
    assert "forced" in promote(store, MODEL, other, force=True)["reason"]
