"""Tiny in-test upstreams for the router tests: real aiohttp servers on loopback whose
behaviour a test switches at will (answer, fail with 500, hang, refuse input, go away).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from serving.router.proxy import Router, RouterSettings
from serving.router.upstreams import Pool, PoolSettings, UpstreamSpec


@dataclass
class FakeReplica:
    name: str
    zone: str
    role: str = "active"
    mode: str = "ok"  # ok | error | hang | bad | unready
    version: str = "v1"
    popular: list[str] = field(default_factory=lambda: [f"p{i}" for i in range(20)])
    hits: int = 0
    runner: web.AppRunner | None = None
    url: str = ""

    async def recommend(self, request: web.Request) -> web.Response:
        self.hits += 1
        body = await request.read()
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "error":
            return web.Response(status=500, body=b'{"error":"boom"}')
        if self.mode == "bad":
            return web.Response(status=422, body=b'{"error":"invalid_request","detail":"x"}')
        k = orjson.loads(body).get("k", 10)
        answer = {
            "items": [f"{self.name}-{i}" for i in range(k)],
            "scores": [1.0] * k,
            "model_version": self.version,
            "degraded": False,
            "source": "user",
            "zone": self.zone,
            "replica": self.name,
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def readyz(self, _: web.Request) -> web.Response:
        if self.mode == "hang":
            await asyncio.sleep(30)
        ok = self.mode in ("ok", "bad")
        return web.Response(status=200 if ok else 503, text="{}")

    async def model(self, _: web.Request) -> web.Response:
        info = {"model": "recommender", "version": self.version, "popular_items": self.popular}
        return web.Response(body=orjson.dumps(info), content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/recommend", self.recommend)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/v1/model", self.model)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def spec(self) -> UpstreamSpec:
        return UpstreamSpec(self.name, self.url, self.role, self.zone)


@asynccontextmanager
async def running_router(replicas: list[FakeReplica], **settings) -> AsyncIterator[Router]:
    """Start the fakes and a Router over them (static membership), wait until all healthy."""
    for replica in replicas:
        await replica.start()
    pool_settings = PoolSettings(
        probe_interval_s=0.05,
        probe_timeout_s=0.2,
        standby_threshold=settings.pop("standby_threshold", 0.72),
        expected_active=settings.pop("expected_active", 0),
    )
    pool = Pool(pool_settings)

    async def source() -> list[UpstreamSpec]:
        return [r.spec for r in replicas if r.runner is not None or r.url]

    router = Router(RouterSettings(discovery_interval=0.05, **settings), pool, source)
    await router.start()
    try:
        for _ in range(100):
            if sum(u.available(pool.clock()) for u in pool.upstreams.values()) == sum(
                r.mode in ("ok", "bad") for r in replicas
            ):
                break
            await asyncio.sleep(0.02)
        yield router
    finally:
        await router.stop()
        for replica in replicas:
            await replica.stop()


async def until(predicate, timeout: float = 3.0) -> None:
    """Wait for a condition the router reaches by itself (probes, refreshes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def ask(router: Router, body: dict | bytes, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    status, payload = await router.recommend(raw, content_type)
    return status, orjson.loads(payload)
