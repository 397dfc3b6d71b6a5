"""bad-model-rollout activities on a real store: refused by the gate, or judged by the canary."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.faults import model_rollout
from experiments.rollback import rollback_state
from model.store import open_store
from tests.experiments.fakes import json_server
from tests.factories import publish_tiny_model


@pytest.fixture
def config(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    stable = publish_tiny_model(open_store(url), recall20=0.5)
    return {
        "model_store_url": url,
        "model_name": "recommender",
        "state_file": str(tmp_path / "state.json"),
        "endpoint": "http://127.0.0.1:9",
        "slo_quality_floor": 0.8,
        "stable": stable.version,
    }


def test_degraded_candidate_is_published_unpromoted_with_worse_metrics(config):
    out = model_rollout.publish_degraded_candidate(configuration=config)
    s = open_store(config["model_store_url"])
    manifest = s.verify("recommender", out["candidate"])
    assert s.resolve("recommender", "stable") == config["stable"]
    assert manifest.data["parent"] == config["stable"]
    popularity = manifest.data["metrics"]["popularity"]["recall@20"]
    assert manifest.data["metrics"]["model"]["recall@20"] == pytest.approx(popularity * 0.5)


def test_promotion_gate_refuses_the_degraded_candidate(config):
    model_rollout.publish_degraded_candidate(configuration=config)
    result = model_rollout.try_promote(configuration=config)
    assert result["promoted"] is False and "refused" in result["refused"]
    assert (
        open_store(config["model_store_url"]).resolve("recommender", "stable") == config["stable"]
    )


def test_a_store_error_while_promoting_is_not_reported_as_a_refusal(config, tmp_path):
    candidate = model_rollout.publish_degraded_candidate(configuration=config)["candidate"]
    (tmp_path / "store" / "recommender" / "versions" / candidate / "manifest.json").unlink()
    with pytest.raises(ActivityFailed, match="store error while promoting"):
        model_rollout.try_promote(configuration=config)


def test_canary_activity_rolls_back_a_promoted_candidate_that_is_bad_online(config):
    candidate = model_rollout.publish_degraded_candidate(configuration=config)["candidate"]
    s = open_store(config["model_store_url"])
    s.promote("recommender", candidate, force=True, reason="test: the gate was bypassed")

    def route(method, path, query, body):
        if path == "/v1/model":
            return 200, {"version": candidate}
        return 200, {"items": ["nope"], "model_version": candidate, "degraded": False}

    with json_server(route) as server:
        result = model_rollout.canary_check(1, configuration={**config, "endpoint": server.url})
    assert result["action"] == "rolled back" and result["promoted"] is True
    assert s.resolve("recommender", "stable") == config["stable"]


def test_canary_activity_fails_when_the_canary_cannot_judge(config, tmp_path):
    candidate = model_rollout.publish_degraded_candidate(configuration=config)["candidate"]
    open_store(config["model_store_url"]).promote("recommender", candidate, force=True)
    (tmp_path / "store" / "recommender" / "aliases" / "stable.json").write_text("[]")
    with pytest.raises(ActivityFailed, match="could not judge"):
        model_rollout.canary_check(1, configuration=config)


def test_canary_does_nothing_when_the_candidate_was_refused(config):
    model_rollout.publish_degraded_candidate(configuration=config)
    assert model_rollout.canary_check(configuration=config)["action"] == "none"


def test_rollback_moves_stable_off_the_candidate_once(config):
    candidate = model_rollout.publish_degraded_candidate(configuration=config)["candidate"]
    open_store(config["model_store_url"]).promote("recommender", candidate, force=True)
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    assert (
        open_store(config["model_store_url"]).resolve("recommender", "stable") == config["stable"]
    )
    assert model_rollout.rollback_candidate(configuration=config) == []
