"""bad-model-rollout activities on a real store: refused by the gate, or rolled back by canary."""

from __future__ import annotations

import json

import pytest

from experiments.rollback import rollback_state
from experiments.store import rollout
from model.store import open_store
from tests.experiments.fakes import json_server
from tests.factories import publish_tiny_model


@pytest.fixture
def store(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    stable = publish_tiny_model(open_store(url), recall20=0.5)
    return url, stable.version, str(tmp_path / "state.json")


def test_degraded_candidate_is_published_unpromoted_with_worse_metrics(store):
    url, stable, state_file = store
    out = rollout.publish_degraded_candidate(url, "recommender", state_file)
    s = open_store(url)
    manifest = s.verify("recommender", out["candidate"])
    assert s.resolve("recommender", "stable") == stable
    assert manifest.data["parent"] == stable
    popularity = manifest.data["metrics"]["popularity"]["recall@20"]
    assert manifest.data["metrics"]["model"]["recall@20"] == pytest.approx(popularity * 0.5)


def test_promotion_gate_refuses_the_degraded_candidate(store):
    url, stable, state_file = store
    rollout.publish_degraded_candidate(url, "recommender", state_file)
    result = rollout.try_promote(state_file)
    assert result["promoted"] is False and "refused" in result["refused"]
    assert open_store(url).resolve("recommender", "stable") == stable


def _serving(version: str, metrics: dict, hits: dict[str, str]):
    def route(method, path, query, body):
        if path == "/v1/model":
            return 200, {"version": version, "metrics": metrics}
        item = hits.get(body["user_id"], "nope")
        return 200, {"items": [item], "model_version": version, "degraded": False}

    return json_server(route)


def test_canary_rolls_back_a_promoted_candidate_whose_online_quality_is_bad(store):
    url, stable, state_file = store
    candidate = rollout.publish_degraded_candidate(url, "recommender", state_file)["candidate"]
    s = open_store(url)
    s.promote("recommender", candidate, force=True, reason="test: the gate was bypassed")
    metrics = s.read_manifest("recommender", stable).data["metrics"]  # claims to be good
    with _serving(candidate, metrics, hits={}) as server:
        result = rollout.canary_check(server.url, 0.8, state_file, wait_s=1)
    assert result["action"] == "rolled back"
    assert s.resolve("recommender", "stable") == stable


def test_canary_keeps_a_candidate_that_is_good_online(store):
    url, _stable, state_file = store
    candidate = rollout.publish_degraded_candidate(url, "recommender", state_file)["candidate"]
    s = open_store(url)
    s.promote("recommender", candidate, force=True)
    pairs = json.loads(s.read_file("recommender", candidate, "holdout.json"))["pairs"]
    metrics = s.read_manifest("recommender", candidate).data["metrics"]
    with _serving(candidate, metrics, hits=dict(pairs)) as server:
        result = rollout.canary_check(server.url, 0.8, state_file, wait_s=1)
    assert result["action"] == "kept"
    assert s.resolve("recommender", "stable") == candidate


def test_canary_does_nothing_when_the_candidate_was_refused(store):
    url, _stable, state_file = store
    rollout.publish_degraded_candidate(url, "recommender", state_file)
    assert rollout.canary_check("http://127.0.0.1:9", 0.8, state_file) == {
        "promoted": False,
        "action": "none",
    }


def test_rollback_moves_stable_off_the_candidate_once(store):
    url, stable, state_file = store
    candidate = rollout.publish_degraded_candidate(url, "recommender", state_file)["candidate"]
    open_store(url).promote("recommender", candidate, force=True)
    reverted, failed = rollback_state(state_file)
    assert failed == [] and len(reverted) == 1
    assert open_store(url).resolve("recommender", "stable") == stable
    assert rollout.rollback_candidate(state_file) == []
