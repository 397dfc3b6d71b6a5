"""The load generator against a real slow HTTP server: stalls show in the latencies."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from infra.local.load import body_for, run_load


async def _slow_server(delay: float, seen: list[str]) -> tuple[web.AppRunner, str]:
    async def recommend(request: web.Request) -> web.Response:
        seen.append((await request.json())["user_id"])
        await asyncio.sleep(delay)
        return web.json_response({"items": [], "degraded": False})

    app = web.Application()
    app.router.add_post("/v1/recommend", recommend)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def test_requests_held_back_by_a_stall_are_timed_from_when_they_were_due():
    """One slot, 0.2 s answers, 20 rps: the 10th request is sent ~1.5 s late. Timed from the
    send, every latency would be ~0.2 s and hide the stall (coordinated omission)."""
    seen: list[str] = []

    async def go():
        runner, url = await _slow_server(0.2, seen)
        try:
            return await run_load(url, rps=20, duration=0.5, concurrency=1, users=["a", "b"])
        finally:
            await runner.cleanup()

    report = asyncio.run(go())
    assert report.requests == 10 and report.failed == 0
    latencies = sorted(s.latency for s in report.samples)
    assert latencies[0] < 0.5
    assert latencies[-1] > 1.2, latencies
    assert seen[:4] == ["a", "b", "a", "b"], "the given user ids, in turn"


def test_default_bodies_cycle_the_tiny_models_users():
    assert orjson.loads(body_for(41)) == {"user_id": "u1", "k": 10}
    assert orjson.loads(body_for(3, ["x", "y"]))["user_id"] == "y"
