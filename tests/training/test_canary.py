"""The production canary: it judges the candidate itself, on a floor the candidate did not set."""

from __future__ import annotations

import json

import pytest

from model.store import open_store
from tests.experiments.fakes import json_server
from tests.factories import publish_tiny_model
from training.canary import CanaryError, canary_check


@pytest.fixture
def promoted(tmp_path):
    """A store whose stable alias was forced onto a second version (the candidate)."""
    store = open_store(f"file://{tmp_path / 'store'}")
    stable = publish_tiny_model(store, recall20=0.5).version
    candidate = publish_tiny_model(store, seed=1, recall20=0.9, promote=False).version
    store.promote("recommender", candidate, force=True, reason="test: the gate was bypassed")
    pairs = json.loads(store.read_file("recommender", stable, "holdout.json"))["pairs"]
    return store, stable, candidate, dict(pairs)


def _serving(model_version: str, answered_by: str, hits: dict[str, str]):
    """``/v1/model`` says ``model_version``; recommendations come from ``answered_by``."""

    def route(method, path, query, body):
        if path == "/v1/model":
            return 200, {"version": model_version}
        item = hits.get(body["user_id"], "nope")
        return 200, {"items": [item], "model_version": answered_by, "degraded": False}

    return json_server(route)


def test_rolls_back_a_candidate_whose_online_quality_is_below_the_floor(promoted):
    store, stable, candidate, _pairs = promoted
    with _serving(candidate, candidate, hits={}) as server:
        result = canary_check(store, "recommender", candidate, server.url, 0.8, wait_s=1)
    assert result.action == "rolled back" and "below 0.8" in result.reason
    assert store.resolve("recommender", "stable") == stable


def test_keeps_a_candidate_that_is_good_online(promoted):
    store, stable, candidate, pairs = promoted
    with _serving(candidate, candidate, hits=pairs) as server:
        result = canary_check(store, "recommender", candidate, server.url, 0.8, wait_s=1)
    assert result.action == "kept", result
    assert result.quality["baseline_version"] == stable
    assert store.resolve("recommender", "stable") == candidate


def test_a_candidate_never_served_is_not_kept_on_the_old_versions_figures(promoted):
    store, stable, candidate, pairs = promoted
    with _serving(stable, stable, hits=pairs) as server:  # old stable serves, and serves well
        result = canary_check(store, "recommender", candidate, server.url, 0.8, wait_s=0.5)
    assert result.action == "rolled back" and "not measured" in result.reason
    assert store.resolve("recommender", "stable") == stable


def test_answers_from_another_version_do_not_count_for_the_candidate(promoted):
    store, stable, candidate, pairs = promoted
    with _serving(candidate, stable, hits=pairs) as server:
        result = canary_check(store, "recommender", candidate, server.url, 0.8, wait_s=1)
    assert result.action == "rolled back"
    assert result.quality["answered_by_candidate"] == 0


def test_does_nothing_when_the_candidate_is_not_stable(promoted):
    store, stable, _candidate, _pairs = promoted
    result = canary_check(store, "recommender", stable, "http://127.0.0.1:9", 0.8)
    assert result.action == "none" and result.to_dict()["promoted"] is False


def test_a_store_error_is_an_error_not_a_verdict(promoted, tmp_path):
    store, _stable, candidate, _pairs = promoted
    (tmp_path / "store" / "recommender" / "aliases" / "stable.json").write_text("{not json")
    with pytest.raises(CanaryError, match="stable alias"):
        canary_check(store, "recommender", candidate, "http://127.0.0.1:9", 0.8)
