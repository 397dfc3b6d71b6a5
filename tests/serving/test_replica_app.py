"""The replica's HTTP contract, in process (TestClient runs the real app and lifespan)."""

from __future__ import annotations

import orjson
import pytest

from serving.schema import MAX_BODY_BYTES
from tests.serving.app_client import app_client, app_settings

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(tiny_store, tmp_path):
    with app_client(app_settings(tiny_store.url, tmp_path / "cache", admin_token="s3cret")) as c:
        yield c


def test_recommend_answers_with_the_contract_fields(client, tiny_store):
    resp = client.post("/v1/recommend", json={"user_id": "u1", "k": 4})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {
        "items",
        "scores",
        "model_version",
        "degraded",
        "source",
        "zone",
        "replica",
    }
    assert len(body["items"]) == len(body["scores"]) == 4
    assert body["model_version"] == tiny_store.stable
    assert (body["degraded"], body["source"], body["zone"], body["replica"]) == (
        False,
        "user",
        "zone-t",
        "r-test",
    )


def test_cold_start_answers_are_popular_and_counted(client):
    resp = client.post("/v1/recommend", json={"user_id": "nobody", "k": 3})
    assert resp.json()["source"] == "popular"
    assert resp.json()["items"] == ["i0", "i1", "i2"]
    metrics = client.get("/metrics").text
    assert "recdrill_replica_cold_start_answers_total 1.0" in metrics
    assert 'recdrill_replica_answers_total{source="popular"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        ({"k": 3}, 422, "user_id"),
        ({"user_id": 7}, 422, "user_id"),
        ({"user_id": "u1", "k": "10"}, 422, "k"),
        ({"user_id": "u1", "k": 0}, 422, "k"),
        ({"user_id": "u1", "k": 501}, 422, "k"),
        ({"user_id": "u1", "k": True}, 422, "k"),
        ({"user_id": "u1", "history": ["i1"] * 501}, 422, "history"),
        ({"user_id": "u1", "history": "i1"}, 422, "history"),
        ({"user_id": "u1", "exclude": [1, 2]}, 422, "exclude"),
        ({"user_id": "u1", "surprise": 1}, 422, "surprise"),
        (["u1"], 422, "JSON object"),
    ],
)
def test_malformed_bodies_get_4xx_naming_the_problem(client, body, status, mentions):
    resp = client.post("/v1/recommend", content=orjson.dumps(body), headers=JSON)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/json"
    assert mentions in resp.json()["detail"]


def test_non_json_and_wrong_content_type(client):
    resp = client.post("/v1/recommend", content=b"{not json", headers=JSON)
    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_json")
    resp = client.post(
        "/v1/recommend", content=b'{"user_id":"u1"}', headers={"content-type": "text/plain"}
    )
    assert (resp.status_code, resp.json()["error"]) == (415, "unsupported_media_type")
    resp = client.post("/v1/recommend", content=b'{"user_id":"u1"}')
    assert resp.status_code == 415


def test_oversized_bodies_get_413_with_or_without_content_length(client):
    big = orjson.dumps({"user_id": "u1", "history": ["x" * 200] * 400})
    assert len(big) > MAX_BODY_BYTES
    resp = client.post("/v1/recommend", content=big, headers=JSON)
    assert (resp.status_code, resp.json()["error"]) == (413, "body_too_large")

    async def chunks():
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    resp = client.post("/v1/recommend", content=chunks(), headers=JSON)
    assert "content-length" not in resp.request.headers
    assert (resp.status_code, resp.json()["error"]) == (413, "body_too_large")


def test_unknown_routes_and_methods_get_json_errors(client):
    resp = client.get("/nope")
    assert (resp.status_code, resp.json()["error"]) == (404, "http_error")
    resp = client.get("/v1/recommend")
    assert resp.status_code == 405
    assert resp.json()["error"] == "http_error"


def test_health_readiness_and_model_info(client, tiny_store):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"ready": True, "version": tiny_store.stable}
    info = client.get("/v1/model").json()
    assert info["version"] == tiny_store.stable
    assert (info["model"], info["alias"], info["source"], info["origin"]) == (
        "recommender",
        "stable",
        "store",
        "alias",
    )
    assert info["popular_items"][:3] == ["i0", "i1", "i2"]
    assert info["metrics"]["model"]["hitrate@10"] > 0
    assert info["loaded_at"].endswith("Z")


def test_readiness_says_which_version_loads_beside_the_served_one(client, tiny_store):
    client.app.state.replica.loader.loading = "v-next"
    try:
        body = client.get("/readyz").json()
    finally:
        client.app.state.replica.loader.loading = None
    assert body == {"ready": True, "version": tiny_store.stable, "loading": "v-next"}
    assert "loading" not in client.get("/readyz").json()


def test_metrics_expose_requests_batches_and_the_served_version(client, tiny_store):
    client.post("/v1/recommend", json={"user_id": "u1"})
    client.get("/nope")
    text = client.get("/metrics").text
    assert 'recdrill_replica_requests_total{route="/v1/recommend",status="200"} 1.0' in text
    assert 'recdrill_replica_requests_total{route="other",status="404"} 1.0' in text
    assert "recdrill_replica_batch_size_count" in text
    assert f'version="{tiny_store.stable}"' in text
    assert 'recdrill_replica_request_seconds_bucket{le="0.05",route="/v1/recommend"}' in text


def test_admin_reload_needs_the_bearer_token(client, tiny_store):
    assert client.post("/admin/reload").status_code == 401
    wrong = client.post("/admin/reload", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    newer = tiny_store.publish(seed=7)
    resp = client.post("/admin/reload", headers={"authorization": "Bearer s3cret"})
    assert resp.status_code == 200
    assert resp.json()["changed"] is True and resp.json()["version"] == newer
    assert client.post("/v1/recommend", json={"user_id": "u1"}).json()["model_version"] == newer


def test_admin_route_is_disabled_without_a_token(tiny_store, tmp_path):
    with app_client(app_settings(tiny_store.url, tmp_path / "c")) as client:
        resp = client.post("/admin/reload", headers={"authorization": "Bearer anything"})
        assert resp.status_code == 404
        assert "disabled" in resp.json()["detail"]


def test_not_ready_until_a_model_loads(tmp_path, make_tiny_store):
    empty = make_tiny_store("empty", versions=0)
    with app_client(app_settings(empty.url, tmp_path / "c"), ready=False) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert client.post("/v1/recommend", json={"user_id": "u1"}).status_code == 503
        assert client.get("/v1/model").status_code == 503
