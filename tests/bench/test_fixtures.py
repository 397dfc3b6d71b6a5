"""What the benchmarks report about their model, on a real (tiny) store."""

from __future__ import annotations

from bench.fixtures import known_users, model_size, publish_tiny_model
from model.store import open_store


def test_model_size_and_known_users_come_from_the_stable_version(tmp_path):
    url = f"file://{tmp_path}"
    manifest = publish_tiny_model(open_store(url), "recommender", seed=0)
    size = model_size(url, "recommender")
    assert size["version"] == manifest.version
    assert (size["users"], size["items"], size["dim"]) == (40, 120, 16)
    assert size["version_bytes"] > 0
    users = known_users(url, "recommender", limit=10)
    assert len(users) == 10 and users[0] == "u0" and set(users) <= {f"u{i}" for i in range(40)}
    assert len(set(users)) == 10, "spread over the vocabulary, not one user repeated"
