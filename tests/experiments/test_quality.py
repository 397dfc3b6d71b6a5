"""The quality probe replays the served version's held-out pairs from a real store."""

from __future__ import annotations

import json

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.probes.quality import online_quality, quality_holds
from model.store import open_store
from tests.experiments.fakes import json_server
from tests.factories import publish_tiny_model


@pytest.fixture
def store(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    manifest = publish_tiny_model(open_store(url), recall20=0.5)  # offline hitrate@10 = 0.35
    pairs = json.loads(open_store(url).read_file("recommender", manifest.version, "holdout.json"))
    return url, manifest, [tuple(p) for p in pairs["pairs"]]


def _recommender(manifest, pairs, hit_share: float):
    """Answers with the held-out item for the first ``hit_share`` of the pairs' users."""
    hits = {u: i for u, i in pairs[: int(len(pairs) * hit_share)]}
    info = {"version": manifest.version, "metrics": manifest.data["metrics"]}

    def route(method, path, query, body):
        if path == "/v1/model":
            return 200, info
        item = hits.get(body["user_id"], "nope")
        return 200, {"items": [item], "model_version": manifest.version, "degraded": False}

    return json_server(route)


def test_quality_holds_when_online_hit_rate_matches_offline(store):
    url, manifest, pairs = store
    with _recommender(manifest, pairs, hit_share=0.5) as server:
        result = online_quality(server.url, url, "recommender")
    assert result["version"] == manifest.version and result["pairs"] == len(pairs)
    assert result["offline_hitrate"] == pytest.approx(0.35)
    assert result["online_hitrate"] >= 0.4
    assert quality_holds(result, quality_floor=0.8)


def test_quality_below_the_floor_fails_the_tolerance(store):
    url, manifest, pairs = store
    with _recommender(manifest, pairs, hit_share=0.1) as server:
        result = online_quality(server.url, url, "recommender")
    assert result["online_hitrate"] == pytest.approx(0.1)
    assert not quality_holds(result, quality_floor=0.8)


def test_holdout_is_cached_so_the_probe_survives_a_store_outage(store, tmp_path):
    url, manifest, pairs = store
    with _recommender(manifest, pairs, hit_share=0.5) as server:
        online_quality(server.url, url, "recommender")
        (tmp_path / "store").rename(tmp_path / "away")
        assert online_quality(server.url, url, "recommender")["pairs"] == len(pairs)


def test_unknown_served_version_fails_naming_it(store):
    url, _manifest, _ = store

    def route(method, path, query, body):
        return 200, {"version": "v-missing", "metrics": {}}

    with json_server(route) as server, pytest.raises(ActivityFailed, match="v-missing"):
        online_quality(server.url, url, "recommender")
