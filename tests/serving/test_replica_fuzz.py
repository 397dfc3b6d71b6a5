"""Schema fuzzing: generated requests, valid and not, never get a 5xx.

Over 1,000 requests run in process through the ASGI app (fast); a smaller sample goes
to a real replica process over TCP, which must still be healthy afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.app_client import app_client, app_settings

RESPONSE_KEYS = {"items", "scores", "model_version", "degraded", "source", "zone", "replica"}
ITEM_IDS = st.one_of(st.sampled_from([f"i{n}" for n in range(130)]), st.text(max_size=12))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
WRONG_VALUES = SCALARS | st.lists(SCALARS, max_size=4)  # cheap: used for every field
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@dataclass(frozen=True)
class Attempt:
    body: bytes
    content_type: str | None


def _bodies() -> st.SearchStrategy:
    field_values = {
        "user_id": st.one_of(st.sampled_from(["u1", "u2", "nobody"]), st.text(), WRONG_VALUES),
        "k": st.one_of(st.integers(-5, 600), st.integers(), WRONG_VALUES),
        "history": st.one_of(
            st.lists(ITEM_IDS, max_size=8),
            st.integers(498, 502).map(lambda n: ["i1", "zz"] * (n // 2) + ["i3"] * (n % 2)),
            WRONG_VALUES,
        ),
        "exclude": st.one_of(st.lists(ITEM_IDS, max_size=40), WRONG_VALUES),
    }
    shaped = st.fixed_dictionaries(
        {"user_id": st.sampled_from(["u1", "u7", "stranger"])},
        optional={name: value for name, value in field_values.items() if name != "user_id"},
    )
    loose = st.dictionaries(
        st.sampled_from([*field_values, "extra", "K", ""]), WRONG_VALUES, max_size=5
    )
    mixed = st.builds(
        lambda d, extra: {**d, **extra}, shaped, st.fixed_dictionaries({}, optional=field_values)
    )
    as_json = st.one_of(shaped, loose, mixed, JSON_VALUES).map(
        lambda v: json.dumps(v).encode()  # NaN/Infinity and lone surrogates included
    )
    return st.one_of(as_json, st.binary(max_size=300))


JSON_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8"])
CONTENT_TYPES = st.one_of(  # mostly JSON, so most bodies reach the parser
    JSON_TYPES,
    JSON_TYPES,
    JSON_TYPES,
    st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "application/vnd+json"]),
    st.none(),
    # h11 (the client) refuses header values with surrounding whitespace
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(str.strip),
)
ATTEMPTS = st.builds(Attempt, _bodies(), CONTENT_TYPES)


def check_answer(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    body = resp.json()
    if resp.status_code == 200:
        assert set(body) == RESPONSE_KEYS
        assert len(body["items"]) == len(body["scores"])
    else:
        assert 400 <= resp.status_code < 500
        assert body["error"] and body["detail"]


def headers_for(attempt: Attempt) -> dict[str, str]:
    return {"content-type": attempt.content_type} if attempt.content_type is not None else {}


def fuzz(client, examples: int) -> list[int]:
    """Send ``examples`` generated requests through ``client``; every answer is checked."""
    statuses: list[int] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(ATTEMPTS)
    def send(attempt: Attempt) -> None:
        resp = client.post("/v1/recommend", content=attempt.body, headers=headers_for(attempt))
        check_answer(resp)
        statuses.append(resp.status_code)

    send()
    return statuses


def test_a_thousand_generated_requests_never_get_a_5xx(tiny_store, tmp_path):
    with app_client(app_settings(tiny_store.url, tmp_path / "cache")) as client:
        statuses = fuzz(client, 1100)
        assert client.get("/healthz").status_code == 200
    assert len(statuses) >= 1000
    assert {200, 400, 415, 422} <= set(statuses), sorted(set(statuses))


@pytest.mark.integration
def test_a_real_replica_process_survives_generated_requests(tiny_store, start_replica):
    replica = start_replica(tiny_store.url)
    with httpx.Client(base_url=replica.url, timeout=10) as client:
        statuses = fuzz(client, 150)
        oversized = client.post(
            "/v1/recommend",
            content=iter([b'{"user_id": "u1", "history": ["' + b"x" * 70_000 + b'"]}']),
            headers={"content-type": "application/json"},
        )
        assert oversized.status_code == 413
        assert client.get("/healthz").status_code == 200
    assert replica.proc.poll() is None
    assert len(statuses) == 150
    assert 200 in statuses and any(400 <= s < 500 for s in statuses)
