"""The in-flight cap in front of the app: past it, 429 + Retry-After before the body is read."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from serving.replica.admission import SHED_REASON, InFlightLimit
from tests.serving.app_client import app_client, app_settings


class HeldApp:
    """An ASGI app that holds every request until released, and records what it read."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        self.entered += 1
        message = await receive()
        self.bodies.append(message.get("body", b""))
        if scope["path"] == "/v1/recommend":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


async def hold_and_probe(cap: int, held: int, probes: int, path: str = "/v1/recommend"):
    """Hold ``held`` requests in flight, send ``probes`` more to ``path``; all responses."""
    inner, shed = HeldApp(), []
    limit = InFlightLimit(inner, cap=cap, on_shed=shed.append)
    transport = httpx.ASGITransport(limit)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        holding = [
            asyncio.create_task(client.post("/v1/recommend", content=b"held")) for _ in range(held)
        ]
        await wait_until(lambda: inner.entered == held)
        extra = [await client.post(path, content=b"probe") for _ in range(probes)]
        inner.release.set()
        done = await asyncio.gather(*holding)
    return limit, inner, shed, done, extra


def test_below_the_cap_nothing_is_refused():
    limit, _, shed, done, _ = asyncio.run(hold_and_probe(cap=3, held=2, probes=0))
    assert [r.status_code for r in done] == [200, 200]
    assert shed == [] and limit.in_flight == 0


def test_past_the_cap_the_answer_is_429_with_retry_after_and_the_body_unread():
    limit, inner, shed, done, extra = asyncio.run(hold_and_probe(cap=2, held=2, probes=3))
    assert [r.status_code for r in extra] == [429, 429, 429]
    assert {r.headers["retry-after"] for r in extra} == {"1"}
    assert extra[0].json()["error"] == "overloaded" and extra[0].json()["reason"] == SHED_REASON
    assert inner.bodies == [b"held", b"held"]  # the refused requests never reached the app
    assert shed == [SHED_REASON] * 3
    assert [r.status_code for r in done] == [200, 200] and limit.in_flight == 0


def test_other_routes_are_not_capped():
    _, _, shed, _, extra = asyncio.run(hold_and_probe(cap=1, held=1, probes=2, path="/readyz"))
    assert [r.status_code for r in extra] == [200, 200] and shed == []


def test_a_failing_request_gives_its_slot_back():
    async def boom(scope, receive, send):
        raise RuntimeError("handler bug")

    async def run() -> InFlightLimit:
        limit = InFlightLimit(boom, cap=1)
        with pytest.raises(RuntimeError):
            await limit({"type": "http", "path": "/v1/recommend"}, None, None)
        return limit

    assert asyncio.run(run()).in_flight == 0


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="in-flight cap"):
        InFlightLimit(HeldApp(), cap=0)


def test_the_replica_sheds_past_its_cap_and_counts_it(tiny_store, tmp_path):
    settings = app_settings(tiny_store.url, tmp_path / "cache", max_in_flight=2, test_delay_s=0.3)
    with app_client(settings) as client:

        async def burst() -> list[httpx.Response]:
            asks = [client.client.post("/v1/recommend", json={"user_id": "u1"}) for _ in range(4)]
            return await asyncio.gather(*asks)

        statuses = sorted(r.status_code for r in client.portal.call(burst))
        metrics = client.get("/metrics").text
    assert statuses == [200, 200, 429, 429]
    assert f'recdrill_replica_shed_total{{reason="{SHED_REASON}"}} 2.0' in metrics
    assert 'recdrill_replica_requests_total{route="/v1/recommend",status="429"} 2.0' in metrics
