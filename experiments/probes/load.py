"""Bounded open-loop load on ``POST /v1/recommend``: the engine behind the SLO probes.

Requests are sent at a fixed rate whatever the latency (open loop), so a slow system
shows up as latency and errors rather than as fewer requests. Everything is bounded: the
window's duration, the per-request timeout and the number of requests in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class Outcome:
    """One request's result. ``status`` 0 means no HTTP answer (refused, reset, timed out)."""

    sent: float
    latency_s: float
    status: int
    degraded: bool = False
    version: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def shed(self) -> bool:
        return self.status == 429


def _body(i: int, users: int) -> dict:
    return {"user_id": f"u{i % users}", "k": 10}


async def _one(session: aiohttp.ClientSession, url: str, body: dict, timeout_s: float) -> Outcome:
    sent = time.time()
    start = time.perf_counter()
    try:
        async with session.post(
            url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            status = resp.status
            degraded, version = False, None
            if status == 200:
                try:
                    data = await resp.json(content_type=None)
                    degraded = bool(data.get("degraded", False))
                    version = data.get("model_version")
                except (ValueError, aiohttp.ClientError, AttributeError):
                    status = 0
            else:
                await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        status, degraded, version = 0, False, None
    return Outcome(sent, time.perf_counter() - start, status, degraded, version)


async def drive(
    endpoint: str,
    rate_rps: float,
    duration_s: float,
    timeout_s: float,
    on_outcome: Callable[[Outcome], None],
    users: int = 40,
) -> None:
    """Send ``rate_rps × duration_s`` requests evenly spaced; call ``on_outcome`` for each."""
    if rate_rps <= 0 or duration_s <= 0:
        raise ValueError("rate_rps and duration_s must be positive")
    url = f"{endpoint.rstrip('/')}/v1/recommend"
    total = max(1, round(rate_rps * duration_s))
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(i: int) -> None:
            async with in_flight:
                on_outcome(await _one(session, url, _body(i, users), timeout_s))

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i in range(total):
            delay = start + i / rate_rps - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
