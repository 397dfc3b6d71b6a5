"""serving.schema describes what the replica and the router really answer, field for field."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from serving.schema import ModelInfo, RecommendResponse
from tests.serving.app_client import app_client, app_settings
from tests.serving.router_fakes import FakeReplica, ask, running_router, until


def test_the_replica_answers_match_the_schema(tiny_store, tmp_path):
    with app_client(app_settings(tiny_store.url, tmp_path / "cache")) as client:
        for body in ({"user_id": "u1", "k": 3}, {"user_id": "nobody", "k": 2}):
            resp = client.post("/v1/recommend", json=body)
            assert resp.status_code == 200
            RecommendResponse.model_validate(resp.json())
        info = ModelInfo.model_validate(client.get("/v1/model").json())
    assert info.version == tiny_store.stable and info.source == "store"


def test_the_router_degraded_answer_matches_the_schema():
    async def go() -> dict:
        replicas = [FakeReplica("r-a", "a")]
        async with running_router(replicas) as router:
            await until(lambda: router.model.popular)
            await replicas[0].stop()
            status, body = await ask(router, {"user_id": "u1", "k": 2})
            assert status == 200
            return body

    answer = RecommendResponse.model_validate(asyncio.run(go()))
    assert answer.degraded and answer.reason


@pytest.mark.parametrize(
    "change",
    [{"extra_field": 1}, {"source": "guess"}, {"degraded": "yes"}],
)
def test_the_schema_refuses_an_answer_that_drifted(change):
    answer = {
        "items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": False,
        "source": "user", "zone": "z", "replica": "r",
    }  # fmt: skip
    RecommendResponse.model_validate(answer)
    with pytest.raises(ValidationError):
        RecommendResponse.model_validate({**answer, **change})
