"""The front door against two real HTTP "region routers" on loopback (aiohttp servers in
this process): threshold failover, failback, fail-open, the retry to the other region."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from infra.local import procs
from infra.local.front_door import (
    FrontDoor,
    RegionTarget,
    build_app,
    parse_args,
    serves_from_replicas,
)
from serving.schema import MAX_BODY_BYTES


def test_health_flips_only_after_threshold_consecutive_checks():
    region = RegionTarget("primary", "http://127.0.0.1:1")
    assert not region.record(False, 3) and not region.record(False, 3)
    assert not region.record(True, 3)  # a good check resets the count
    assert [region.record(False, 3) for _ in range(3)] == [False, False, True]
    assert not region.healthy
    assert [region.record(True, 3) for _ in range(3)] == [False, False, True]
    assert region.healthy


def door(**kwargs) -> FrontDoor:
    regions = [
        RegionTarget("primary", "http://127.0.0.1:1"),
        RegionTarget("dr", "http://127.0.0.1:2"),
    ]
    return FrontDoor(regions, threshold=2, **kwargs)


def failovers(d: FrontDoor, src: str, dst: str) -> float:
    value = d.metrics.registry.get_sample_value(
        "recdrill_front_door_failovers_total", {"from_region": src, "to_region": dst}
    )
    return value or 0.0


def test_fails_over_after_the_threshold_and_fails_back():
    d = door()
    d.apply_checks([False, True])
    assert d.serving.name == "primary"
    d.apply_checks([False, True])
    assert d.serving.name == "dr" and failovers(d, "primary", "dr") == 1
    d.apply_checks([True, True])
    assert d.serving.name == "dr"
    d.apply_checks([True, True])
    assert d.serving.name == "primary" and failovers(d, "dr", "primary") == 1
    gauge = d.metrics.registry.get_sample_value
    assert gauge("recdrill_front_door_serving_region", {"region": "primary"}) == 1.0
    assert gauge("recdrill_front_door_serving_region", {"region": "dr"}) == 0.0


def test_with_every_region_unhealthy_the_primary_gets_the_traffic():
    d = door()
    for _ in range(2):
        d.apply_checks([True, False])
    for _ in range(2):
        d.apply_checks([False, False])
    assert d.serving.name == "primary" and d.failovers == 0


def test_bad_region_flags_and_values_are_refused(capsys):
    for argv in (
        ["--region", "primary", "--port", "1"],
        ["--region", "p=http://example.com:80", "--port", "1"],
        ["--region", "p=http://127.0.0.1:1", "--port", "1", "--threshold", "0"],
    ):
        with pytest.raises(SystemExit) as exc:
            parse_args(argv)
        assert exc.value.code == 2
    assert "--region" in capsys.readouterr().err
    with pytest.raises(ValueError, match="two regions"):
        FrontDoor([RegionTarget("a", "http://127.0.0.1:1")])


@asynccontextmanager
async def fake_router(name: str, ready: bool = True) -> AsyncIterator[tuple[str, web.AppRunner]]:
    async def recommend(_: web.Request) -> web.Response:
        return web.json_response({"items": ["i1"], "replica": f"{name}-a-0"})

    async def model(_: web.Request) -> web.Response:
        return web.json_response({"version": f"{name}-v1"})

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_post("/v1/recommend", recommend)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v1/model", model)
    runner = web.AppRunner(app)
    await runner.setup()
    port = procs.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", runner
    finally:
        await runner.cleanup()


async def post(client: httpx.AsyncClient, body: bytes = b'{"user_id": "u1"}') -> httpx.Response:
    return await client.post("http://front/v1/recommend", content=body,
                             headers={"content-type": "application/json"})  # fmt: skip


def run_with_regions(test, **kwargs) -> None:
    async def go() -> None:
        async with fake_router("primary") as (p_url, p_runner), fake_router("dr") as (d_url, _):
            d = FrontDoor(
                [RegionTarget("primary", p_url), RegionTarget("dr", d_url)],
                interval_s=0.05, threshold=2, **kwargs,
            )  # fmt: skip
            await d.start()
            transport = httpx.ASGITransport(app=build_app(d))
            try:
                async with httpx.AsyncClient(transport=transport) as client:
                    await test(d, client, p_runner)
            finally:
                await d.stop()

    asyncio.run(go())


def test_a_dead_primary_costs_no_request_and_checks_move_the_traffic():
    async def test(d: FrontDoor, client: httpx.AsyncClient, primary: web.AppRunner) -> None:
        resp = await post(client)
        assert resp.status_code == 200 and resp.headers["x-recdrill-region"] == "primary"
        await primary.cleanup()  # the primary's router is gone: connections are refused
        answers = [await post(client) for _ in range(5)]
        assert [r.status_code for r in answers] == [200] * 5
        assert {r.headers["x-recdrill-region"] for r in answers} == {"dr"}
        for _ in range(100):
            if d.serving.name == "dr":
                break
            await asyncio.sleep(0.02)
        assert d.serving.name == "dr" and d.failovers == 1
        view = (await client.get("http://front/v1/regions")).json()
        assert view["serving"] == "dr" and not view["regions"][0]["healthy"]
        model = await client.get("http://front/v1/model")  # the serving region's router's
        assert model.status_code == 200 and model.json()["version"] == "dr-v1"

    run_with_regions(test)


def test_without_the_retry_requests_fail_until_the_checks_fail_over():
    async def test(d: FrontDoor, client: httpx.AsyncClient, primary: web.AppRunner) -> None:
        await primary.cleanup()
        resp = await post(client)
        assert resp.status_code == 503 and resp.json()["error"] == "no_region"
        for _ in range(100):
            if d.serving.name == "dr":
                break
            await asyncio.sleep(0.02)
        resp = await post(client)
        assert resp.status_code == 200 and resp.headers["x-recdrill-region"] == "dr"

    run_with_regions(test, retry_other_region=False)


def test_bad_requests_get_4xx_with_a_reason():
    async def test(d: FrontDoor, client: httpx.AsyncClient, _: web.AppRunner) -> None:
        assert (await post(client, b"x" * (MAX_BODY_BYTES + 1))).status_code == 413
        resp = await client.get("http://front/v1/recommend")
        assert resp.status_code == 405 and resp.json()["detail"]
        assert (await client.get("http://front/nope")).status_code == 404
        assert (await client.get("http://front/readyz")).status_code == 200
        metrics = (await client.get("http://front/metrics")).text
        assert 'recdrill_front_door_region_healthy{region="dr"} 1.0' in metrics

    run_with_regions(test)


def test_a_router_ready_on_its_fallback_alone_is_not_a_region_to_fail_back_to():
    fallback_only = {"ready": True, "active": {"total": 2, "available": 0},
                     "standby": {"total": 1, "available": 0}}  # fmt: skip
    assert not serves_from_replicas(json.dumps(fallback_only).encode())
    one_up = {**fallback_only, "standby": {"total": 1, "available": 1}}
    assert serves_from_replicas(json.dumps(one_up).encode())
    assert serves_from_replicas(b'{"ready": true}')  # no counts: the 200 stands
