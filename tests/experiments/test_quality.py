"""The quality probe replays stable's held-out pairs; its floor is measured, never claimed."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.probes import quality
from experiments.probes.quality import online_quality, quality_holds
from model.store import open_store
from tests.experiments.fakes import json_server
from tests.training.scored_models import publish_scored, scored_artifacts


@pytest.fixture(autouse=True)
def _fresh_references():
    quality._REFERENCES.clear()
    yield
    quality._REFERENCES.clear()


@pytest.fixture
def store(tmp_path):
    """A stable version that really hits every held-out pair (it claims far less)."""
    url = f"file://{tmp_path / 'store'}"
    manifest = publish_scored(open_store(url), 1.0, claim=0.1, promote=True)
    return url, manifest, scored_artifacts(1.0).holdout


def _recommender(version: str, claimed: float, pairs, hit_share: float):
    """Serves ``version``, answering with the held-out item for ``hit_share`` of the pairs."""
    hits = dict(pairs[: round(len(pairs) * hit_share)])
    info = {"version": version, "metrics": {"model": {"hitrate@10": claimed}}}

    def route(method, path, query, body):
        if path == "/v1/model":
            return 200, info
        item = hits.get(body["user_id"], "nope")
        return 200, {"items": [item], "model_version": version, "degraded": False}

    return json_server(route)


def test_quality_holds_when_online_matches_stables_measured_hit_rate(store):
    url, manifest, pairs = store
    with _recommender(manifest.version, 0.1, pairs, hit_share=0.9) as server:
        result = online_quality(server.url, url, "recommender")
    assert result["reference_version"] == manifest.version and result["pairs"] == len(pairs)
    assert result["reference_hitrate"] == pytest.approx(1.0)  # measured, not the 0.1 claimed
    assert result["online_hitrate"] == pytest.approx(0.9)
    assert quality_holds(result, quality_floor=0.8)


def test_an_honestly_bad_served_model_fails_the_floor(store, tmp_path):
    url, _stable, pairs = store
    bad = scored_artifacts(0.0)
    from training.evaluate import pair_hitrates

    honest = pair_hitrates(bad, bad.holdout, bad.items[:50])["model"]["hitrate@10"]
    candidate = publish_scored(open_store(url), 0.0, claim=honest, seed=1).version
    with _recommender(candidate, honest, pairs, hit_share=honest) as server:
        result = online_quality(server.url, url, "recommender")
    assert result["version"] == candidate
    assert result["online_hitrate"] >= 0.8 * honest  # what the old, self-set floor accepted
    assert not quality_holds(result, quality_floor=0.8)


def test_popularity_sets_the_floor_only_when_stable_hits_nothing():
    assert quality.Reference("v", [], hitrate=0.3, popularity=0.5).baseline == 0.3
    assert quality.Reference("v", [], hitrate=0.0, popularity=0.2).baseline == 0.2


def test_reference_is_cached_so_the_probe_survives_a_store_outage(store, tmp_path):
    url, manifest, pairs = store
    with _recommender(manifest.version, 0.1, pairs, hit_share=1.0) as server:
        online_quality(server.url, url, "recommender")
        (tmp_path / "store").rename(tmp_path / "away")
        assert online_quality(server.url, url, "recommender")["pairs"] == len(pairs)


def test_unanswered_pairs_fail_the_tolerance(store):
    url, manifest, pairs = store
    with _recommender(manifest.version, 0.1, pairs, hit_share=1.0) as server:
        result = online_quality(server.url, url, "recommender")
    assert quality_holds(result)
    assert not quality_holds({**result, "answered": result["pairs"] - 1})


def test_no_stable_version_fails_naming_the_store(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    publish_scored(open_store(url), 1.0, claim=0.5)  # published, never promoted

    def route(method, path, query, body):
        return 200, {"version": "v1", "metrics": {}}

    with json_server(route) as server, pytest.raises(ActivityFailed, match="stable version"):
        online_quality(server.url, url, "recommender")
