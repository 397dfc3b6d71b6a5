"""The router against tiny in-test upstreams: retries, zones, ejection, fallback, 4xx."""

from __future__ import annotations

import asyncio

import pytest

from tests.serving.router_fakes import FakeReplica, ask, running_router, until

# The fakes are stopped under the router's feet; aiohttp may then drop a half-accepted
# socket, which is the fake server's business, not the router's.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

REQ = {"user_id": "u1", "k": 5}


def run(coro):
    return asyncio.run(coro)


def three_zones() -> list[FakeReplica]:
    return [FakeReplica(f"r-{z}", z) for z in ("a", "b", "c")]


def test_answers_from_a_replica():
    async def go():
        async with running_router(three_zones()) as router:
            status, body = await ask(router, REQ)
            assert status == 200
            assert body["degraded"] is False
            assert len(body["items"]) == 5
            assert body["replica"].startswith("r-")

    run(go())


def test_failed_replica_is_retried_elsewhere_and_ejected():
    async def go():
        replicas = three_zones()
        async with running_router(replicas) as router:
            replicas[0].mode = "error"
            answers = [await ask(router, REQ) for _ in range(30)]
            assert all(s == 200 and not b["degraded"] for s, b in answers)
            assert all(b["replica"] != "r-a" for _, b in answers)
            assert replicas[0].hits <= 2, "an ejected replica must not keep getting traffic"
            states = {u["id"]: u["state"] for u in router.upstreams_view()["upstreams"]}
            assert states["r-a"] in ("ejected", "unhealthy")
            assert router.metrics.retries._value.get() >= 1

    run(go())


def test_retry_prefers_another_zone():
    async def go():
        replicas = [FakeReplica("a0", "a"), FakeReplica("a1", "a"), FakeReplica("b0", "b")]
        async with running_router(replicas) as router:
            a0 = router.pool.upstreams[replicas[0].url]
            for _ in range(20):
                nxt = router.pool.choose([a0])
                assert nxt is not None and nxt.zone == "b"

    run(go())


def test_hung_replica_costs_one_try_timeout_then_is_ejected():
    async def go():
        replicas = three_zones()
        async with running_router(replicas, try_timeout=0.2, deadline=1.0) as router:
            replicas[1].mode = "hang"
            loop = asyncio.get_running_loop()
            slowest = 0.0
            for _ in range(20):
                start = loop.time()
                status, body = await ask(router, REQ)
                slowest = max(slowest, loop.time() - start)
                assert status == 200 and not body["degraded"]
            assert slowest < 0.9, "a hung replica must cost at most about one try timeout"
            assert replicas[1].hits <= 2

    run(go())


def test_all_down_gives_popular_fallback_marked_degraded():
    async def go():
        replicas = three_zones()
        async with running_router(replicas) as router:
            await until(lambda: router.model.popular)
            for replica in replicas:
                await replica.stop()
            status, body = await ask(router, {"user_id": "u1", "k": 3, "exclude": ["p0"]})
            assert status == 200
            assert body["degraded"] is True
            assert body["items"] == ["p1", "p2", "p3"]
            assert body["reason"]
            assert body["model_version"] == "v1"

    run(go())


def test_retries_off_falls_back_on_the_first_failure():
    async def go():
        replicas = three_zones()
        async with running_router(replicas, retries=0) as router:
            await ask(router, REQ)
            await until(lambda: router.model.popular)
            for r in replicas:
                r.mode = "error"
            router.pool.settings.ejection = False
            status, body = await ask(router, REQ)
            assert status == 200 and body["degraded"] is True
            assert sum(r.hits for r in replicas) == 2, "one try for the first request, one here"

    run(go())


def test_fallback_off_answers_503_when_nothing_answers():
    async def go():
        replicas = [FakeReplica("a0", "a", mode="error")]
        async with running_router(replicas, fallback=False) as router:
            status, body = await ask(router, REQ)
            assert status == 503 and body["error"] == "unavailable"

    run(go())


def test_replica_4xx_is_passed_through_and_not_retried():
    async def go():
        replicas = [FakeReplica("a0", "a", mode="bad"), FakeReplica("b0", "b", mode="bad")]
        async with running_router(replicas) as router:
            status, body = await ask(router, REQ)
            assert status == 422 and body["error"] == "invalid_request"
            assert sum(r.hits for r in replicas) == 1

    run(go())


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"user_id": "u1", "k": 0}, "application/json", 422),
        ({"user_id": "u1", "colour": "red"}, "application/json", 422),
        (b"{not json", "application/json", 400),
        (REQ, "text/plain", 415),
    ],
)
def test_router_validates_input_itself(body, content_type, status):
    async def go():
        replicas = [FakeReplica("a0", "a")]
        async with running_router(replicas) as router:
            got, payload = await ask(router, body, content_type)
            assert got == status and payload["detail"]
            assert replicas[0].hits == 0

    run(go())


def test_standby_takes_traffic_only_when_active_capacity_is_low():
    async def go():
        replicas = [FakeReplica(f"act-{z}", z) for z in "abc"]
        replicas.append(FakeReplica("sb", "c", role="standby"))
        async with running_router(replicas) as router:
            for _ in range(30):
                await ask(router, REQ)
            assert replicas[3].hits == 0
            replicas[0].mode = replicas[1].mode = "error"
            served = [(await ask(router, REQ))[1]["replica"] for _ in range(60)]
            assert "sb" in served
            assert all(not s.startswith("act-a") and not s.startswith("act-b") for s in served)

    run(go())


def test_popular_items_refresh_on_version_change():
    async def go():
        replicas = [FakeReplica("a0", "a")]
        async with running_router(replicas) as router:
            await ask(router, REQ)
            await until(lambda: router.model.info.get("source") == "replica")
            assert router.model.popular[0] == "p0"
            replicas[0].version = "v2"
            replicas[0].popular = ["new0", "new1"]
            await ask(router, REQ)
            await until(lambda: router.model.version == "v2")
            assert router.model.popular == ["new0", "new1"]

    run(go())


def test_hedged_try_answers_when_the_first_replica_hangs():
    async def go():
        replicas = [FakeReplica("a0", "a"), FakeReplica("b0", "b")]
        async with running_router(replicas, try_timeout=2.0, hedge_after=0.05) as router:
            replicas[0].mode = "hang"
            loop = asyncio.get_running_loop()
            start = loop.time()
            answers = await asyncio.gather(*(ask(router, REQ) for _ in range(10)))
            assert loop.time() - start < 1.5, "hedges answer long before the 2 s try timeout"
            assert all(s == 200 and b["replica"] == "b0" for s, b in answers)
            assert router.metrics.hedges._value.get() >= 1

    run(go())


def test_no_hedge_and_no_retry_when_retries_are_off():
    async def go():
        replicas = [FakeReplica("a0", "a"), FakeReplica("b0", "b")]
        async with running_router(replicas, retries=0, try_timeout=0.3, hedge_after=0.05) as router:
            await until(lambda: router.model.popular)
            replicas[0].mode = replicas[1].mode = "hang"
            status, body = await ask(router, REQ)
            assert status == 200 and body["degraded"] is True
            assert sum(r.hits for r in replicas) == 1
            assert router.metrics.hedges._value.get() == 0

    run(go())
